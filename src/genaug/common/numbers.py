"""The one test of "a number that can be shown, logged or computed with"."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def is_number(value: Any) -> bool:
    """True for a real, finite number (numpy scalars included; bools and None are not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_) \
        and math.isfinite(value)
