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
- **Equivalent real images** (E): how many extra real images give the same gain as the arm.
  The real-augmentation curve (gain in pp of the arms adding 0, 25, 50, ... extra real images
  per class, the 0 point being the baseline itself) is made monotone (running maximum: more
  real images are never worth less than fewer), interpolated with a shape-preserving PCHIP
  (`scipy.interpolate.PchipInterpolator`) and inverted at the arm's gain; on a flat stretch the
  smallest such count is taken. Undefined (None, with a reason) when the curve is flat or the
  gain lies outside it (below its start or above its top: extrapolation would be a guess).
- **Exchange rate**: `n_synthetic / E`, synthetic images per equally useful real image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq

# Gains (pp) closer than this are equal: Top-1 moves in steps of 100 / len(real_test) pp.
_FLAT_PP = 1e-9


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


def monotone_curve(extra_real: Sequence[float], gains_pp: Sequence[float]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The real-augmentation curve sorted by image count, gains made non-decreasing."""
    x = np.asarray(extra_real, dtype=float)
    y = np.asarray(gains_pp, dtype=float)
    if x.shape != y.shape or x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("The real-augmentation curve needs >= 2 finite (images, gain) points; "
                         f"got {list(extra_real)!r}, {list(gains_pp)!r}.")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"The real-augmentation curve has repeated image counts: {x.tolist()}.")
    return x, np.maximum.accumulate(y)


def interpolated_curve(extra_real: Sequence[float], gains_pp: Sequence[float]
                       ) -> tuple[np.ndarray, np.ndarray, PchipInterpolator]:
    """The monotone curve's points and its shape-preserving PCHIP through them (what E is read
    off and what the exchange-rate plot draws)."""
    x, y = monotone_curve(extra_real, gains_pp)
    return x, y, PchipInterpolator(x, y)


def equivalent_real(gain_pp: float, extra_real: Sequence[float],
                    gains_pp: Sequence[float]) -> Ratio:
    """E: the extra real images whose (monotone, interpolated) gain equals `gain_pp`."""
    x, y, curve = interpolated_curve(extra_real, gains_pp)
    if not math.isfinite(gain_pp):
        raise ValueError(f"gain_pp must be a finite number; got {gain_pp!r}.")
    if y[-1] - y[0] <= _FLAT_PP:
        return Ratio(None, f"the real-augmentation curve is flat ({y[0]:+.2f} pp from "
                           f"{x[0]:.0f} to {x[-1]:.0f} real images): E undefined")
    if gain_pp < y[0] - _FLAT_PP:
        return Ratio(None, f"gain {gain_pp:+.2f} pp is below the curve's start ({y[0]:+.2f} pp "
                           f"at {x[0]:.0f} real images): E undefined")
    if gain_pp > y[-1] + _FLAT_PP:
        return Ratio(None, f"gain {gain_pp:+.2f} pp is above the curve's top ({y[-1]:+.2f} pp "
                           f"at {x[-1]:.0f} real images): worth more than {x[-1]:.0f} real "
                           "images, E undefined")
    for i in range(x.size):  # the first point at (or within float noise of) the gain
        if abs(y[i] - gain_pp) <= _FLAT_PP:
            return Ratio(float(x[i]))
    i = int(np.searchsorted(y, gain_pp))  # y[i-1] < gain_pp < y[i]
    return Ratio(float(brentq(lambda v: float(curve(v)) - gain_pp, x[i - 1], x[i])))


def exchange_rate(n_synthetic: float, equivalent: float | None) -> Ratio:
    """Synthetic images per equally useful real image: n_synthetic / E."""
    if equivalent is None:
        return Ratio(None, "E undefined")
    if equivalent <= 0:
        return Ratio(None, "E is 0 (the arm gains nothing): exchange rate undefined")
    return Ratio(n_synthetic / equivalent)
