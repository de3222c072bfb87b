"""Improvement measures of an arm over the real-only baseline (pure functions, no I/O).

Accuracies are fractions in [0, 1] (e.g. an arm's `top1_mean`), all arms trained with the same
seeds and the same real images.

- **Absolute gain** (percentage points): `100 * (acc_arm - acc_baseline)`.
- **Relative gain**: `(acc_arm - acc_baseline) / acc_baseline` (a fraction; 0.05 = +5 %).
  Undefined (None, with a reason) when the baseline accuracy is 0.
- **Improvement Ratio** (IR): `IR = (acc_synthetic - acc_baseline) / (acc_real_aug -
  acc_baseline)`, where `acc_real_aug` is the `real_augmented` arm that added as many *real*
  images (from `real_reserve`, same per-class counts) as the synthetic arm added synthetic ones.
  IR = 1: a synthetic image is worth a real one; 0: synthetic images add nothing; < 0: they hurt;
  > 1: they help more than as many real images. When the real-augmentation gain is not clearly
  positive (`acc_real_aug - acc_baseline <= min_real_gain`, default 0.001 = 0.1 pp) the ratio is
  meaningless (division by ~0 or by a loss), so IR is None and a reason string says why.
"""

from __future__ import annotations

import math
from typing import NamedTuple


class Ratio(NamedTuple):
    """A ratio that may be undefined: `value` is None exactly when `reason` says why."""

    value: float | None
    reason: str | None = None


def _check_acc(value: float, name: str) -> float:
    """Check an accuracy is a finite fraction in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be an accuracy fraction in [0, 1]; got {value!r}.")
    return float(value)


def absolute_gain(acc: float, baseline_acc: float) -> float:
    """Gain over the baseline in percentage points: 100 * (acc - baseline_acc)."""
    return 100.0 * (_check_acc(acc, "acc") - _check_acc(baseline_acc, "baseline_acc"))


def relative_gain(acc: float, baseline_acc: float) -> Ratio:
    """(acc - baseline_acc) / baseline_acc; None when the baseline accuracy is 0."""
    acc, base = _check_acc(acc, "acc"), _check_acc(baseline_acc, "baseline_acc")
    if base == 0.0:
        return Ratio(None, "baseline accuracy is 0")
    return Ratio((acc - base) / base)


def improvement_ratio(synthetic_acc: float, real_augmented_acc: float, baseline_acc: float,
                      min_real_gain: float = 0.001) -> Ratio:
    """IR = synthetic gain / real-augmentation gain (same number of added images).

    Returns Ratio(None, reason) when the real-augmentation gain is <= `min_real_gain` (a fraction;
    default 0.001 = 0.1 percentage point).
    """
    syn = _check_acc(synthetic_acc, "synthetic_acc")
    real = _check_acc(real_augmented_acc, "real_augmented_acc")
    base = _check_acc(baseline_acc, "baseline_acc")
    if not math.isfinite(min_real_gain) or min_real_gain < 0:
        raise ValueError(f"min_real_gain must be a finite number >= 0; got {min_real_gain!r}.")
    real_gain = real - base
    if real_gain <= min_real_gain:
        kind = "not positive" if real_gain <= 0 else "too small"
        return Ratio(None, f"real-augmentation gain {100 * real_gain:+.2f} pp is {kind} "
                           f"(<= {100 * min_real_gain:.2f} pp): IR undefined")
    return Ratio((syn - base) / real_gain)
