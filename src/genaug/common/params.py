"""Stage parameters per ablation arm: shared defaults deep-merged with the arm's overrides."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def merge_params(defaults: Mapping[str, Any] | None,
                 overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Deep-merge an arm's overrides into a stage's defaults (overrides win; dicts merge)."""
    merged: dict[str, Any] = copy.deepcopy(dict(defaults or {}))
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_params(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
