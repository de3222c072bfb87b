"""Number formatting shared by the reports: finite checks, cells and intervals."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def with_ci(value: Any, low: Any, high: Any, spec: str, open_high: bool = False) -> str:
    """`value [low, high]`; `value [low, >]` for an open upper end; `` when value is blank."""
    if not finite(value):
        return ""
    if not finite(low):
        return spec.format(float(value))
    upper = spec.format(float(high)) if finite(high) else (">" if open_high else "?")
    return f"{spec.format(float(value))} [{spec.format(float(low))}, {upper}]"


def finite(value: Any) -> bool:
    """True for a real, finite number (numpy scalars included, bools not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_) \
        and math.isfinite(value)


def fmt(value: Any, spec: str) -> str:
    """Format a number, or return an empty cell for a missing / undefined value."""
    if not finite(value):
        return ""
    return spec.format(float(value))
