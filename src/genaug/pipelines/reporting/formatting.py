"""Number formatting shared by the reports: cells and intervals."""

from __future__ import annotations

from typing import Any

from genaug.common.numbers import is_number


def with_ci(value: Any, low: Any, high: Any, spec: str, open_high: bool = False) -> str:
    """`value [low, high]`; `value [low, >]` for an open upper end; `` when value is blank."""
    if not is_number(value):
        return ""
    if not is_number(low):
        return spec.format(float(value))
    upper = spec.format(float(high)) if is_number(high) else (">" if open_high else "?")
    return f"{spec.format(float(value))} [{spec.format(float(low))}, {upper}]"


def fmt(value: Any, spec: str) -> str:
    """Format a number, or return an empty cell for a missing / undefined value."""
    if not is_number(value):
        return ""
    return spec.format(float(value))
