"""The study's exchange-rate law, fitted on (base size, synthetic images, equivalent real) points.

arXiv 2508.09550 relates the synthetic images n_syn that match n_real+ extra real ones, at a
real base set of n_base images, by

    n_syn / n_base = c1^(n_base / k) · (c2^(n_real+ / n_base) − 1)

c2 prices real images: matching n_real+ = n_base extra real images (doubling the base) takes
c1^(n_base / k) · (c2 − 1) · n_base synthetic ones, and a few extra real images cost
c1^(n_base / k) · ln c2 synthetic each. c1 says how that price grows with the base size (k
fixes c1's unit; c2 does not depend on k). genaug fits
ln c1 and ln c2 by least squares on ln(n_syn / n_base) (scipy `curve_fit`), so every point
weighs by its relative error; the parameters' intervals come from the fit's covariance
(Student t with n − 2 degrees of freedom), mapped through exp.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import optimize, stats

# ln c2 is kept in (0, _MAX_LOG_C2]: c2 > 1 (more real images always cost more synthetic ones).
_MAX_LOG_C2 = 50.0


@dataclass(frozen=True)
class LawFit:
    """The fitted constants with their intervals, or why there is no fit."""

    k: float
    n_points: int
    c1: float | None = None
    c1_ci: tuple[float, float] | None = None
    c2: float | None = None
    c2_ci: tuple[float, float] | None = None
    rmse_log: float | None = None  # root-mean-square residual of ln(n_syn / n_base)
    note: str | None = None

    def to_dict(self) -> dict:
        """A JSON-ready view."""
        return asdict(self)


def law_ratio(n_base: np.ndarray, n_real_plus: np.ndarray, c1: float, c2: float,
              k: float) -> np.ndarray:
    """n_syn / n_base the law predicts."""
    return c1 ** (n_base / k) * (c2 ** (n_real_plus / n_base) - 1.0)


def law_equivalent(n_base: float, n_syn: float, c1: float, c2: float, k: float) -> float:
    """n_real+ the law gives for n_syn synthetic images at base n_base (its inverse)."""
    return n_base * math.log1p(n_syn / n_base / c1 ** (n_base / k)) / math.log(c2)


def _log_model(x: np.ndarray, log_c1: float, log_c2: float, k: float) -> np.ndarray:
    """ln(n_syn / n_base) as a function of (n_base, n_real+)."""
    n_base, n_real_plus = x
    return n_base / k * log_c1 + np.log(np.expm1(log_c2 * n_real_plus / n_base))


def fit_law(n_base: Sequence[float], n_syn: Sequence[float], n_real_plus: Sequence[float],
            k: float, confidence: float = 0.95) -> LawFit:
    """Fit c1 and c2 to the points; fewer than 3 usable points (E > 0) give no fit."""
    base, syn, plus = (np.asarray(v, dtype=float) for v in (n_base, n_syn, n_real_plus))
    if not (base.shape == syn.shape == plus.shape):
        raise ValueError("fit_law needs as many n_syn and n_real+ values as base sizes.")
    usable = np.isfinite(base) & np.isfinite(syn) & np.isfinite(plus) & (plus > 0) & (syn > 0)
    base, syn, plus = base[usable], syn[usable], plus[usable]
    if base.size < 3:
        return LawFit(k, int(base.size), note=f"{base.size} usable point(s) (E > 0): the law "
                                              "has 2 constants and needs at least 3")
    y = np.log(syn / base)
    p0 = (0.0, math.log(2.0))
    try:
        params, cov = optimize.curve_fit(
            lambda x, a, b: _log_model(x, a, b, k), np.vstack([base, plus]), y, p0=p0,
            bounds=([-np.inf, 1e-9], [np.inf, _MAX_LOG_C2]))
    except (RuntimeError, ValueError) as error:
        return LawFit(k, int(base.size), note=f"the fit did not converge ({error})")
    residual = y - _log_model(np.vstack([base, plus]), *params, k)
    rmse = float(np.sqrt(np.mean(residual ** 2)))
    if not np.all(np.isfinite(cov)):
        return LawFit(k, int(base.size), float(math.exp(params[0])), None,
                      float(math.exp(params[1])), None, rmse,
                      "the covariance is not finite (too few or degenerate points): no interval")
    t = float(stats.t.ppf(0.5 + confidence / 2, base.size - 2))
    se = np.sqrt(np.diag(cov))
    ci = [(float(math.exp(p - t * s)), float(math.exp(min(p + t * s, 700.0))))
          for p, s in zip(params, se, strict=True)]
    return LawFit(k, int(base.size), float(math.exp(params[0])), ci[0],
                  float(math.exp(params[1])), ci[1], rmse)
