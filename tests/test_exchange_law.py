"""The study's exchange-rate law: the fit recovers known constants from noisy points made by the
law, its intervals cover them, too few points give no fit, and its inverse is exact."""

from __future__ import annotations

import numpy as np
import pytest

from genaug.exchange_law import fit_law, law_equivalent, law_ratio

K = 1000.0


def law_points(c1: float, c2: float, noise: float, seed: int = 0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n_base, n_syn, n_real+) at four base sizes × two pools, n_syn made by the law with
    multiplicative log-normal noise."""
    rng = np.random.default_rng(seed)
    base = np.repeat([250.0, 500.0, 1000.0, 2000.0], 2)
    plus = base * np.tile([0.15, 0.4], 4)
    syn = base * law_ratio(base, plus, c1, c2, K) * np.exp(rng.normal(0.0, noise, base.size))
    return base, syn, plus


@pytest.mark.parametrize(("c1", "c2"), [(1.8, 3.0), (1.2, 12.0), (0.7, 2.5)])
def test_the_fit_recovers_known_constants_within_its_intervals(c1: float, c2: float) -> None:
    fit = fit_law(*law_points(c1, c2, noise=0.05), k=K)
    assert fit.note is None and fit.n_points == 8
    assert fit.c1 == pytest.approx(c1, rel=0.1)
    assert fit.c2 == pytest.approx(c2, rel=0.1)
    assert fit.c1_ci[0] < c1 < fit.c1_ci[1]
    assert fit.c2_ci[0] < c2 < fit.c2_ci[1]


def test_noise_free_points_give_the_constants_exactly() -> None:
    fit = fit_law(*law_points(1.5, 4.0, noise=0.0), k=K)
    assert (fit.c1, fit.c2) == (pytest.approx(1.5, rel=1e-6), pytest.approx(4.0, rel=1e-6))
    assert fit.rmse_log == pytest.approx(0.0, abs=1e-6)


def test_more_noise_widens_the_intervals() -> None:
    narrow = fit_law(*law_points(1.8, 3.0, noise=0.02), k=K)
    wide = fit_law(*law_points(1.8, 3.0, noise=0.2), k=K)
    assert np.diff(wide.c2_ci)[0] > np.diff(narrow.c2_ci)[0]


def test_points_without_a_positive_equivalent_are_left_out() -> None:
    base, syn, plus = law_points(1.8, 3.0, noise=0.0)
    plus[:6] = [np.nan, 0.0, -5.0, np.nan, np.nan, np.nan]
    fit = fit_law(base, syn, plus, k=K)
    assert fit.c2 is None and fit.n_points == 2
    assert "needs at least 3" in fit.note


def test_law_equivalent_inverts_the_law() -> None:
    ratio = law_ratio(np.array([400.0]), np.array([130.0]), 1.6, 5.0, K)[0]
    assert law_equivalent(400.0, 400.0 * ratio, 1.6, 5.0, K) == pytest.approx(130.0)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="as many"):
        fit_law([100.0, 200.0], [10.0], [5.0, 6.0], k=K)
