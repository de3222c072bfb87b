"""What the seeds establish: means with confidence intervals, paired tests, Holm adjustment.

Pure functions, no I/O. Accuracies are fractions in [0, 1]; differences are reported in
percentage points (pp). Arms share seeds and the same `real_test` order (the paired design,
docs/reading-results.md), so two arms are compared on the seeds they have in common:

- **n >= 2 common seeds**: a paired Student t-test over the per-seed Top-1 differences
  (`scipy.stats.ttest_rel`), with the t confidence interval of the mean difference.
- **1 common seed**: the seeds cannot say anything, so the test images are the replicates:
  an exact McNemar test (a two-sided binomial test on the discordant images, `scipy.stats.
  binomtest`) and Newcombe's (1998, method 10) score interval for the difference of paired
  proportions, built from the two Wilson intervals (it keeps a width when the two models agree
  on every image, where a Wald interval collapses to a point). It measures the noise of the
  test set only, not that of training (one trained model per arm).

A test is undefined (p None, with a note) when the differences do not vary across seeds but are
not all zero (the t statistic is infinite), or when there is nothing to pair.

Every comparison ends in one of four verdicts (`decide`): *better* / *worse* (the paired test,
Holm-adjusted over the table's comparisons), *equivalent* within ±margin (a paired TOST,
`statsmodels.stats.weightstats.ttost_paired`, Holm-adjusted in its own family), or
*inconclusive*, with the number of seeds that would resolve it (`seeds_needed`: statsmodels'
t-test power, assuming the observed SD of the paired differences and the observed mean
difference are the true ones).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

# Differences smaller than this (a fraction) are float noise: accuracies are multiples of 1/N.
_EPS = 1e-12


@dataclass(frozen=True)
class MeanEstimate:
    """Mean of n per-seed values with its Student-t interval (None for n = 1)."""

    n: int
    mean: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Comparison:
    """arm − reference in pp over their common seeds, its interval, p-value and test."""

    arm: str
    reference: str
    n: int
    diff_pp: float | None
    low_pp: float | None
    high_pp: float | None
    p_value: float | None
    test: str
    note: str | None = None
    # SD of the per-seed differences (pp; None for one seed) and the paired TOST p-value of
    # |difference| < margin (None when no margin was given or for one seed).
    sd_pp: float | None = None
    p_tost: float | None = None


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> MeanEstimate:
    """Mean and Student-t confidence interval over seeds (no interval for a single value)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0 or not np.isfinite(data).all():
        raise ValueError(f"mean_ci needs finite values; got {list(values)!r}.")
    mean = float(data.mean())
    if data.size == 1:
        return MeanEstimate(1, mean, None, None)
    sem = float(stats.sem(data))
    if sem <= _EPS:
        return MeanEstimate(int(data.size), mean, mean, mean)
    low, high = stats.t.interval(confidence, data.size - 1, loc=mean, scale=sem)
    return MeanEstimate(int(data.size), mean, float(low), float(high))


def paired_comparison(arm: str, reference: str, arm_top1: Mapping[int, float],
                      reference_top1: Mapping[int, float],
                      arm_correct: Mapping[int, Sequence[int]] | None = None,
                      reference_correct: Mapping[int, Sequence[int]] | None = None,
                      confidence: float = 0.95, margin_pp: float | None = None) -> Comparison:
    """Compare two arms on their common seeds: paired t-test (and TOST within ±`margin_pp`),
    or McNemar for one seed.

    `*_top1` map a seed to its Top-1; `*_correct` map a seed to the 0/1 correctness of every
    `real_test` image in order (needed for the one-seed test only).
    """
    seeds = sorted(set(arm_top1) & set(reference_top1))
    if not seeds:
        return Comparison(arm, reference, 0, None, None, None, None, "none",
                          "no common seed to pair")
    if len(seeds) >= 2:
        return _paired_t(arm, reference, [arm_top1[s] for s in seeds],
                         [reference_top1[s] for s in seeds], confidence, margin_pp)
    seed = seeds[0]
    diff = 100 * (arm_top1[seed] - reference_top1[seed])
    if arm_correct is None or reference_correct is None or seed not in arm_correct \
            or seed not in reference_correct:
        return Comparison(arm, reference, 1, diff, None, None, None, "none",
                          "one seed and no per-image correctness saved")
    return _mcnemar(arm, reference, arm_correct[seed], reference_correct[seed], confidence)


def _paired_t(arm: str, reference: str, a: list[float], b: list[float],
              confidence: float, margin_pp: float | None) -> Comparison:
    """Paired Student t-test over seeds with the interval of the mean difference, and the
    paired TOST p-value of |difference| < margin."""
    diffs = np.round(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), 12)
    n, mean = int(diffs.size), float(diffs.mean())
    test = f"paired t-test over {n} seeds"
    if float(diffs.std()) <= _EPS:  # no seed-to-seed variation: t is 0/0 or infinite
        # The difference is known exactly: inside the margin (TOST p 0) or not (p 1).
        p_tost = None if margin_pp is None else float(abs(100 * mean) >= margin_pp)
        if abs(mean) <= _EPS:
            return Comparison(arm, reference, n, 0.0, 0.0, 0.0, 1.0, test, sd_pp=0.0,
                              p_tost=p_tost)
        return Comparison(arm, reference, n, 100 * mean, 100 * mean, 100 * mean, None, test,
                          "the difference is the same on every seed: t-test undefined",
                          sd_pp=0.0, p_tost=p_tost)
    result = stats.ttest_rel(diffs, np.zeros_like(diffs))
    ci = result.confidence_interval(confidence)
    p_tost = None
    if margin_pp is not None:
        p_tost = float(ttost_paired(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                                    -margin_pp / 100, margin_pp / 100)[0])
    return Comparison(arm, reference, n, 100 * mean, 100 * float(ci.low),
                      100 * float(ci.high), float(result.pvalue), test,
                      sd_pp=100 * float(diffs.std(ddof=1)), p_tost=p_tost)


def _mcnemar(arm: str, reference: str, arm_correct: Sequence[int],
             reference_correct: Sequence[int], confidence: float) -> Comparison:
    """Exact McNemar test and Newcombe's paired score interval over the test images of a seed."""
    a = np.asarray(arm_correct, dtype=bool)
    b = np.asarray(reference_correct, dtype=bool)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"Per-image correctness of '{arm}' ({a.size} images) and "
                         f"'{reference}' ({b.size}) must cover the same real_test images.")
    total = int(a.size)
    both, only_arm = int((a & b).sum()), int((a & ~b).sum())
    only_ref, neither = int((~a & b).sum()), int((~a & ~b).sum())
    low, high = _newcombe_paired(both, only_arm, only_ref, neither, confidence)
    discordant = only_arm + only_ref
    p_value = float(stats.binomtest(only_arm, discordant, 0.5).pvalue) if discordant else 1.0
    return Comparison(arm, reference, 1, 100 * (only_arm - only_ref) / total, 100 * low,
                      100 * high, p_value, f"exact McNemar over {total} test images (1 seed)")


def _newcombe_paired(both: int, only_1: int, only_2: int, neither: int, confidence: float
                     ) -> tuple[float, float]:
    """Newcombe's method-10 interval for p1 − p2 of paired proportions (fractions).

    p1 = (both + only_1) / n, p2 = (both + only_2) / n; Wilson intervals of each combined with
    the continuity-corrected phi correlation of the 2×2 table.
    """
    n = both + only_1 + only_2 + neither
    hits_1, hits_2 = both + only_1, both + only_2
    p1, p2 = hits_1 / n, hits_2 / n
    l1, u1 = stats.binomtest(hits_1, n).proportion_ci(confidence, method="wilson")
    l2, u2 = stats.binomtest(hits_2, n).proportion_ci(confidence, method="wilson")
    margins = hits_1 * (n - hits_1) * hits_2 * (n - hits_2)
    cross = both * neither - only_1 * only_2
    corrected = cross - n / 2 if cross > n / 2 else min(cross, 0)
    phi = corrected / math.sqrt(margins) if margins else 0.0
    diff = p1 - p2
    below = math.sqrt(max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2,
                          0.0))
    above = math.sqrt(max((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2,
                          0.0))
    return max(-1.0, diff - below), min(1.0, diff + above)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values of one family (None entries are left out, stay None)."""
    index = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if index:
        values = multipletests([p_values[i] for i in index], method="holm")[1]
        for i, value in zip(index, values, strict=True):
            adjusted[i] = float(value)
    return adjusted


# --------------------------------------------------------------------------- verdicts

VERDICTS = ("better", "worse", "equivalent", "inconclusive")
POWER = 0.8
# More seeds than this are reported as "more than" (the power solver's search bound).
MAX_SEEDS = 10_000


@dataclass(frozen=True)
class Verdict:
    """The outcome of one comparison, and for an inconclusive one what would resolve it."""

    outcome: str
    seeds_needed: int | None = None
    # "difference" (a paired t-test detecting the observed difference) or "equivalence"
    # (a TOST showing |difference| < margin), whichever needs fewer seeds.
    route: str | None = None
    reason: str | None = None


def seeds_needed(diff_pp: float, sd_pp: float, margin_pp: float, alpha_difference: float,
                 alpha_equivalence: float, power: float = POWER) -> tuple[int | None, str | None]:
    """Seeds for `power` to resolve a comparison, assuming the observed mean difference and SD
    of the paired differences are the true ones: (n, route), the cheaper of the two routes.

    difference: a two-sided paired t-test at `alpha_difference` detecting |diff|; equivalence:
    a TOST at `alpha_equivalence` showing |diff| < margin, approximated by a one-sided t-test of
    effect (margin − |diff|) / SD (exact for diff = 0 up to the second one-sided test). None
    when neither route can succeed (no variation, or |diff| = margin).
    """
    if not sd_pp > _EPS:
        return None, None
    solver = TTestPower()
    found: list[tuple[int, str]] = []
    for route, effect, alpha, side in (
            ("difference", abs(diff_pp) / sd_pp, alpha_difference, "two-sided"),
            ("equivalence", (margin_pp - abs(diff_pp)) / sd_pp, alpha_equivalence, "larger")):
        if effect <= 1e-6:
            continue
        n = _solve_n(solver, effect, alpha, power, side)
        if n is not None:
            found.append((n, route))
    if not found:
        return None, None
    return min(found)


def _solve_n(solver: TTestPower, effect: float, alpha: float, power: float,
             alternative: str) -> int | None:
    """The smallest whole n >= 2 with at least `power` (None beyond MAX_SEEDS)."""
    def achieved(n: int) -> float:
        return float(solver.power(effect_size=effect, nobs=n, alpha=alpha,
                                  alternative=alternative))

    if achieved(MAX_SEEDS) < power:
        return None
    low, high = 2, MAX_SEEDS
    if achieved(low) >= power:
        return low
    while high - low > 1:  # power grows with n: bisect on whole numbers
        mid = (low + high) // 2
        low, high = (low, mid) if achieved(mid) >= power else (mid, high)
    return high


def decide(comparison: Comparison, p_holm: float | None, p_tost_holm: float | None,
           margin_pp: float, alpha: float, family_size: int) -> Verdict:
    """better / worse / equivalent within ±margin / inconclusive (with the seeds needed).

    The seeds needed assume the observed SD and difference, the difference test at Holm's most
    stringent level alpha / family_size (the level a comparison must pass whatever its rank),
    and the equivalence test at the same level in its own family.
    """
    if p_holm is not None and p_holm < alpha and comparison.diff_pp:
        return Verdict("better" if comparison.diff_pp > 0 else "worse")
    if p_tost_holm is not None and p_tost_holm < alpha:
        return Verdict("equivalent")
    if comparison.n < 2 or comparison.sd_pp is None or comparison.diff_pp is None:
        return Verdict("inconclusive", reason="one seed: the seed-to-seed SD is unknown")
    if comparison.sd_pp <= _EPS:
        return Verdict("inconclusive", reason="no seed-to-seed variation to test against")
    level = alpha / max(1, family_size)
    n, route = seeds_needed(comparison.diff_pp, comparison.sd_pp, margin_pp, level, level)
    if n is None:
        return Verdict("inconclusive", reason="no number of seeds resolves it at this SD")
    return Verdict("inconclusive", n, route)
