"""ReportingParams: the shipped block parses; missing or unknown keys are named."""

from __future__ import annotations

import copy

import pytest

from genaug.common.validation import ParameterError
from genaug.schemas.base import parse
from genaug.schemas.reporting import ReportingParams
from tests.support import conf_params

BLOCK = conf_params("reporting", "base")


def test_base_block_parses() -> None:
    parsed = parse(ReportingParams, BLOCK, "reporting")
    assert parsed.threshold.title == "CLIP-filter threshold ablation"
    assert parsed.training.title == "Training strategy ablation"
    assert parsed.to_dict() == BLOCK


@pytest.mark.parametrize(("path", "value", "named"), [
    (("threshold", "title"), 3, "reporting.threshold.title"),
    (("training", "title"), None, "reporting.training.title"),
    (("training", "titel"), "x", "reporting.training.titel"),
    (("ablation",), {"title": "t"}, "reporting.ablation"),
])
def test_bad_values_are_named(path, value, named) -> None:
    block = copy.deepcopy(BLOCK)
    target = block
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ParameterError, match=named.replace(".", r"\.")):
        parse(ReportingParams, block, "reporting")


def test_missing_report_is_named() -> None:
    block = copy.deepcopy(BLOCK)
    del block["training"]
    with pytest.raises(ParameterError, match=r"reporting\.training'.*missing"):
        parse(ReportingParams, block, "reporting")
