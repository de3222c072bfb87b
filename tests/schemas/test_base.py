"""genaug.schemas.base: the deep merge of an arm's overrides into a stage's defaults."""

from __future__ import annotations

from genaug.schemas.base import deep_merge


def test_deep_merge_is_deep_and_does_not_mutate() -> None:
    defaults = {"a": 1, "b": {"c": 2, "d": 3}}
    merged = deep_merge(defaults, {"b": {"c": 5}, "e": 6})
    assert merged == {"a": 1, "b": {"c": 5, "d": 3}, "e": 6}
    assert defaults == {"a": 1, "b": {"c": 2, "d": 3}}
