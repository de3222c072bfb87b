"""Statistics on constructed per-seed and per-image results with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import ttost_paired

from genaug.significance import decide, holm, mean_ci, paired_comparison, seeds_needed

BASE = {0: 0.80, 1: 0.83, 2: 0.81}


def test_mean_ci_is_student_t_and_absent_for_one_seed() -> None:
    est = mean_ci([0.80, 0.83, 0.81])
    half = stats.t.ppf(0.975, 2) * stats.sem([0.80, 0.83, 0.81])
    assert est.n == 3 and est.mean == pytest.approx(0.8133333)
    assert (est.low, est.high) == (pytest.approx(est.mean - half), pytest.approx(est.mean + half))
    one = mean_ci([0.8])
    assert (one.n, one.mean, one.low, one.high) == (1, 0.8, None, None)
    with pytest.raises(ValueError, match="finite"):
        mean_ci([])


def test_identical_arms_differ_by_zero_with_p_one() -> None:
    c = paired_comparison("a", "baseline", BASE, dict(BASE))
    assert (c.n, c.diff_pp, c.p_value) == (3, 0.0, 1.0)
    assert c.low_pp <= 0.0 <= c.high_pp
    assert c.test == "paired t-test over 3 seeds"


def test_constant_shift_with_seed_noise_is_recovered() -> None:
    noise = {0: -0.002, 1: 0.0, 2: 0.002}  # mean 0: the mean difference is exactly the shift
    arm = {s: v + 0.01 + noise[s] for s, v in BASE.items()}
    c = paired_comparison("a", "baseline", arm, BASE)
    assert c.diff_pp == pytest.approx(1.0)
    assert c.low_pp < 1.0 < c.high_pp
    diffs = [100 * (arm[s] - BASE[s]) for s in BASE]
    half = stats.t.ppf(0.975, 2) * stats.sem(diffs)
    assert (c.low_pp, c.high_pp) == (pytest.approx(1.0 - half), pytest.approx(1.0 + half))
    assert c.p_value == pytest.approx(stats.ttest_1samp(diffs, 0.0).pvalue)
    assert c.p_value < 0.05


def test_same_shift_on_every_seed_has_no_t_test() -> None:
    c = paired_comparison("a", "baseline", {s: v + 0.01 for s, v in BASE.items()}, BASE)
    assert c.diff_pp == pytest.approx(1.0) and c.p_value is None
    assert "same on every seed" in c.note


def test_one_seed_uses_exact_mcnemar_over_test_images() -> None:
    # 100 test images: 10 only the arm gets right, 2 only the reference: +8 pp.
    ref = [1] * 60 + [0] * 10 + [1] * 2 + [0] * 28
    arm = [1] * 60 + [1] * 10 + [0] * 2 + [0] * 28
    c = paired_comparison("a", "b", {0: sum(arm) / 100}, {0: sum(ref) / 100},
                          {0: arm}, {0: ref})
    assert c.n == 1 and c.test == "exact McNemar over 100 test images (1 seed)"
    assert c.diff_pp == pytest.approx(8.0)
    assert c.p_value == pytest.approx(stats.binomtest(10, 12, 0.5).pvalue)  # 0.0386
    assert c.low_pp < 8.0 < c.high_pp and c.low_pp > 0  # distinguishable, as McNemar says
    with pytest.raises(ValueError, match="same real_test images"):
        paired_comparison("a", "b", {0: 0.6}, {0: 0.6}, {0: ref[:50]}, {0: ref})


def test_one_seed_interval_keeps_a_width_when_two_models_agree_on_every_image() -> None:
    # 50 of 100 right, the same images: Newcombe's interval is +-2w/sqrt(n), w the Wilson
    # half-width of 50/100 (phi = 1 - 2/n after the continuity correction).
    same = [1] * 50 + [0] * 50
    c = paired_comparison("a", "b", {0: 0.5}, {0: 0.5}, {0: same}, {0: same})
    low, high = stats.binomtest(50, 100).proportion_ci(0.95, method="wilson")
    w = (high - low) / 2
    assert (c.diff_pp, c.p_value) == (0.0, 1.0)
    assert (c.low_pp, c.high_pp) == (pytest.approx(-100 * 2 * w / 10),
                                     pytest.approx(100 * 2 * w / 10))


def test_unpaired_or_unsaved_is_stated() -> None:
    assert paired_comparison("a", "b", {0: 0.8}, {1: 0.8}).note == "no common seed to pair"
    one = paired_comparison("a", "b", {0: 0.82}, {0: 0.80})
    assert one.p_value is None and one.diff_pp == pytest.approx(2.0)
    assert "per-image" in one.note


def test_holm_on_a_known_case() -> None:
    # Sorted 0.01, 0.02, 0.03, 0.04 -> x4, x3, x2, x1 = 0.04, 0.06, 0.06 (monotone), 0.06.
    assert holm([0.03, 0.01, None, 0.04, 0.02]) == [
        pytest.approx(0.06), pytest.approx(0.04), None, pytest.approx(0.06), pytest.approx(0.06)]
    assert holm([0.5, 0.9]) == [pytest.approx(1.0), pytest.approx(1.0)]
    assert holm([]) == []


# --------------------------------------------------------------------------- verdicts

TEN = {s: 0.80 + 0.01 * ((7 * s) % 5) for s in range(10)}  # seed-to-seed spread of 4 pp


def _verdict(arm: dict[int, float], reference: dict[int, float], margin: float = 0.5,
             family: int = 1):
    c = paired_comparison("a", "b", arm, reference, margin_pp=margin)
    return c, decide(c, c.p_value, c.p_tost, margin, 0.05, family)


def test_identical_arms_are_equivalent_not_better() -> None:
    c, v = _verdict(dict(TEN), TEN)
    assert (c.diff_pp, c.p_value, c.p_tost) == (0.0, 1.0, 0.0)
    assert v.outcome == "equivalent"


def test_a_one_point_shift_is_better_not_equivalent() -> None:
    noise = [0.001, -0.001, 0.002, -0.002, 0.0, 0.001, -0.001, 0.0015, -0.0015, 0.0]
    arm = {s: v + 0.01 + noise[s] for s, v in TEN.items()}
    c, v = _verdict(arm, TEN)
    assert c.diff_pp == pytest.approx(1.0) and c.p_value < 1e-6
    assert c.p_tost > 0.5  # 1 pp is outside ±0.5 pp: equivalence is rejected
    assert v.outcome == "better"
    worse = _verdict({s: v - 0.01 + noise[s] for s, v in TEN.items()}, TEN)[1]
    assert worse.outcome == "worse"


def test_equivalence_needs_a_tight_difference_inside_the_margin() -> None:
    rng = np.random.default_rng(0)
    arm = {s: v + 0.001 * rng.standard_normal() for s, v in TEN.items()}  # SD 0.1 pp
    c, v = _verdict(arm, TEN)
    assert abs(c.diff_pp) < 0.2 and c.p_tost < 0.001
    assert v.outcome == "equivalent"


def test_seeds_needed_of_a_noisy_small_difference_is_confirmed_by_simulation() -> None:
    rng = np.random.default_rng(1)
    diffs = 0.004 + 0.006 * rng.standard_normal(5)  # ~0.4 pp with an SD of ~0.6 pp, 5 seeds
    base = {s: 0.8 for s in range(5)}
    arm = {s: 0.8 + d for s, d in enumerate(diffs)}
    c, v = _verdict(arm, base, margin=0.5, family=3)
    assert v.outcome == "inconclusive" and v.seeds_needed is not None and v.seeds_needed > 5
    assert v.route in ("difference", "equivalence")
    # Simulate the design the estimate assumes: n = seeds_needed paired differences with the
    # observed mean and SD, tested as the verdict would test them at alpha / family.
    level, n, hits, trials = 0.05 / 3, v.seeds_needed, 0, 2000
    for _ in range(trials):
        sample = rng.normal(c.diff_pp, c.sd_pp, n)
        if v.route == "difference":
            hits += stats.ttest_1samp(sample, 0.0).pvalue < level
        else:
            hits += ttost_paired(sample, np.zeros(n), -0.5, 0.5)[0] < level
    assert hits / trials >= 0.77  # 80 % power, within simulation noise
    assert seeds_needed(c.diff_pp, c.sd_pp, 0.5, level, level) == (n, v.route)


def test_one_seed_is_inconclusive_without_a_seed_count() -> None:
    c = paired_comparison("a", "b", {0: 0.81}, {0: 0.80}, margin_pp=0.5)
    v = decide(c, None, None, 0.5, 0.05, 1)
    assert v.outcome == "inconclusive" and v.seeds_needed is None and "one seed" in v.reason
