"""Reporting nodes on constructed metrics: gains with CIs and tests, Holm, IR, the exchange rate,
the verdict line, Markdown and plots."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from genaug.pipelines.reporting.markdown import results_markdown
from genaug.pipelines.reporting.nodes import build_results_table
from genaug.pipelines.reporting.plots import plot_exchange_rate, plot_strategies, plot_threshold
from genaug.schemas.reporting import AblationReport
from genaug.significance import VERDICTS

REPORT = AblationReport(title="Training", labels={"drop_20": "joint (drop_20)"},
                        comparisons=[["sequential", "drop_20"]])
NOISE = (-0.002, 0.0, 0.002)  # mean 0: each arm's mean is exactly its nominal Top-1


def _metrics(strategy: str, top1: float, n_syn: int = 0, extra: int = 0,
             seeds: int = 3, noise: tuple[float, ...] = NOISE) -> dict:
    values = [top1 + noise[i] for i in range(seeds)] if seeds > 1 else [top1]
    return {"strategy": strategy, "seeds": list(range(seeds)), "top1": values,
            "top1_mean": sum(values) / seeds, "top1_std": None, "fid": 3.0,
            "inception_score": 4.0, "inception_score_std": 0.1, "fid_floor": 1.0,
            "inception_score_floor": 5.0, "n_floor": n_syn,
            "feature_extractor": "evaluator-cnn", "n_real": 1000, "n_synthetic": n_syn,
            "n_extra_real": extra}


def _curve(seeds: int = 3) -> dict:
    """A real-augmentation curve: +1 pp at 100 extra real images, +2 at 200, +4 at 400."""
    base = 0.80
    return {f"real_curve_{i}__curve": _metrics("real_augmented", base + gain / 100,
                                               extra=extra, seeds=seeds, noise=(0.0, 0.0, 0.0))
            for i, (extra, gain) in enumerate([(100, 1.0), (200, 2.0), (400, 4.0)], start=1)}


def _training_table(seeds: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    return build_results_table(
        REPORT,
        baseline__metrics=_metrics("real_only", 0.80, seeds=seeds),
        drop_20__metrics=_metrics("joint", 0.82, n_syn=2400, seeds=seeds, noise=(0, 0, 0)),
        sequential__metrics=_metrics("sequential", 0.79, n_syn=2400, seeds=seeds,
                                     noise=(0.001, -0.003, 0.002)),
        real_augmented__metrics=_metrics("real_augmented", 0.84, extra=2400, seeds=seeds),
        drop_20__filter={"drop_fraction": 0.2},
        **_curve(seeds),
    )


@pytest.fixture(scope="module")
def training() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The constructed training ablation's table (indexed by arm) and comparisons."""
    table, comparisons = _training_table()
    return table.set_index("arm"), comparisons


def test_rows_are_the_baseline_the_arms_then_the_curve(training) -> None:
    table, _ = training
    assert table.index.tolist() == ["baseline", "drop_20", "sequential", "real_augmented",
                                    "real_curve_1", "real_curve_2", "real_curve_3"]
    assert table["role"].tolist() == ["baseline", "arm", "arm", "arm", "curve", "curve", "curve"]
    assert table.loc["drop_20", "label"] == "joint (drop_20)"


def test_gain_over_the_baseline_with_its_ci_and_test(training) -> None:
    joint = training[0].loc["drop_20"]
    assert joint["gain_pp"] == pytest.approx(2.0)
    assert joint["gain_ci_low"] < 2.0 < joint["gain_ci_high"]
    assert joint["test"] == "paired t-test over 3 seeds"
    assert joint["relative_gain"] == pytest.approx(0.025)


@pytest.mark.parametrize(("arm", "ratio"), [
    ("drop_20", 0.5),          # +2 pp of real_augmented's +4 pp
    ("sequential", -0.25),     # -1 pp of +4 pp
    ("real_augmented", None),  # the yardstick itself has none
])
def test_improvement_ratio_is_the_share_of_real_augmented_s_gain(training, arm, ratio) -> None:
    value = training[0].loc[arm, "improvement_ratio"]
    assert math.isnan(value) if ratio is None else value == pytest.approx(ratio)


def test_an_arm_on_the_curve_gets_its_equivalent_real_images_and_exchange_rate(training) -> None:
    # +2 pp sits exactly on the curve's 200-image point: 2400 synthetic are worth 200 real.
    joint = training[0].loc["drop_20"]
    assert joint["equivalent_real"] == pytest.approx(200)
    assert joint["exchange_rate"] == pytest.approx(12.0)
    assert joint["equivalent_real_ci_low"] < 200 < joint["equivalent_real_ci_high"]


def test_an_arm_below_the_curve_gets_a_note_instead(training) -> None:
    assert "below the curve's start" in training[0].loc["sequential", "exchange_note"]


def test_the_baseline_lists_each_seed_and_its_ci(training) -> None:
    baseline = training[0].loc["baseline"]
    assert baseline["top1_per_seed"] == "0:0.798000;1:0.800000;2:0.802000"
    assert baseline["top1_ci_low"] < 0.80 < baseline["top1_ci_high"]


def test_real_augmented_fid_describes_the_added_real_images(training) -> None:
    assert training[0].loc["real_augmented", "fid_set"] == "added real images"


def test_curve_rows_are_references_with_a_gain_but_no_test(training) -> None:
    curve = training[0].loc["real_curve_2"]
    assert math.isnan(curve["p_value"])
    assert curve["gain_pp"] == pytest.approx(2.0)


def test_comparisons_are_each_arm_vs_the_baseline_then_the_declared_pairs(training) -> None:
    comparisons = training[1]
    assert list(zip(comparisons["arm"], comparisons["reference"], strict=True)) == [
        ("drop_20", "baseline"), ("sequential", "baseline"), ("real_augmented", "baseline"),
        ("sequential", "drop_20")]


def test_the_same_gain_on_every_seed_has_no_t_test(training) -> None:
    # real_augmented and baseline share their seed noise: +4 pp on every seed.
    row = training[1].loc[2]
    assert row["arm"] == "real_augmented"
    assert math.isnan(row["p_value"]) and "same on every seed" in row["note"]


def test_holm_adjusts_over_the_defined_p_values_only(training) -> None:
    # The family is the 3 defined p-values: the smallest is multiplied by 3.
    table, comparisons = training
    raw = comparisons["p_value"].dropna()
    smallest = raw.idxmin()
    assert comparisons.loc[smallest, "p_holm"] == pytest.approx(min(1.0, 3 * raw[smallest]))
    assert table.loc["sequential", "p_holm"] == pytest.approx(comparisons["p_holm"][1])


def test_every_comparison_ends_in_a_verdict_and_an_open_one_says_what_would_settle_it(
        training) -> None:
    table, comparisons = training
    assert set(comparisons["verdict"]) <= set(VERDICTS)
    for row in comparisons.to_dict("records"):
        assert row["margin_pp"] == 0.5
        if row["verdict"] == "inconclusive":
            assert isinstance(row["verdict_note"], str) or row["seeds_needed"] > 3
    assert table.loc["drop_20", "verdict"] == comparisons.loc[0, "verdict"]


def test_markdown_has_cis_verdict_and_no_plus_minus_for_one_seed() -> None:
    table, comparisons = _training_table(seeds=1)
    markdown = results_markdown(table, comparisons, REPORT)
    assert "±" not in markdown
    assert re.search(r"\| joint \(drop_20\) +\|", markdown)
    assert "| 80.00 " in markdown  # one seed: the mean, no interval
    assert "p undefined (one seed and no per-image correctness saved)" in markdown
    assert ("**Verdict** (n = 1 seed, Holm α = 0.05, margin 0.5 pp; 0 of 4 comparisons settled): "
            "inconclusive: ") in markdown
    table3, comparisons3 = _training_table(seeds=3)
    markdown3 = results_markdown(table3, comparisons3, REPORT)
    assert re.search(r"\| 82\.00 \[\d+\.\d\d, \d+\.\d\d\]", markdown3)
    assert re.search(r"`sequential` − `joint \(drop_20\)`: -3\.00 \[-\d\.\d\d, -\d\.\d\d\] pp, "
                     r"p = \S+ \(Holm \S+\), TOST p = \S+ \(Holm \S+\), paired t-test over 3 "
                     r"seeds — worse", markdown3)
    assert "E of `sequential`: gain -1.00 pp is below the curve's start" in markdown3
    assert "| 200 [" in markdown3  # E of joint with its interval


def test_one_seed_with_saved_correctness_uses_mcnemar_in_the_table() -> None:
    base, arm = _metrics("real_only", 0.5, seeds=1), _metrics("joint", 0.6, n_syn=10, seeds=1)
    base["test_correct"] = {"0": "1" * 50 + "0" * 50}
    arm["test_correct"] = {"0": "1" * 50 + "1" * 10 + "0" * 40}
    table, comparisons = build_results_table(AblationReport(title="t"), baseline__metrics=base,
                                             drop_10__metrics=arm)
    row = table.set_index("arm").loc["drop_10"]
    assert row["test"] == "exact McNemar over 100 test images (1 seed)"
    assert row["gain_pp"] == pytest.approx(10.0)
    assert row["p_value"] == pytest.approx(2 * 0.5 ** 10)
    assert bool(comparisons.loc[0, "distinguishable"])
    markdown = results_markdown(table, comparisons, AblationReport(title="t"))
    assert ("**Verdict** (n = 1 seed, Holm α = 0.05, margin 0.5 pp; 1 of 1 comparisons settled): "
            "better: `drop_10` − `baseline` (+10.00 pp") in markdown


def test_strategy_plot_draws_the_tables_gains_cis_and_labels(training) -> None:
    table, _ = training
    arms = table.drop(index="baseline")
    ax = plot_strategies(table.reset_index()).axes[0]
    errorbars, bars = ax.containers
    assert [bar.get_height() for bar in bars] == pytest.approx(arms["gain_pp"].tolist())
    assert [t.get_text() for t in ax.get_xticklabels()] == arms["label"].tolist()
    (whiskers,) = errorbars.lines[2]
    lows, highs = zip(*((low, high) for (_, low), (_, high) in whiskers.get_segments()),
                      strict=True)
    assert lows == pytest.approx(arms["gain_ci_low"].tolist())
    assert highs == pytest.approx(arms["gain_ci_high"].tolist())
    assert ax.texts[0].get_text() == "+2.0\nIR 0.50\nE 200"  # joint: gain, IR and E on top


def test_exchange_rate_plot_draws_the_curve_and_places_the_arms_on_it(training) -> None:
    table, _ = training
    ax = plot_exchange_rate(table.reset_index()).axes[0]
    points = ax.get_lines()[0]  # the curve's measured points: the baseline at 0, then each arm
    assert list(points.get_xdata()) == [0.0, 100.0, 200.0, 400.0]
    assert list(points.get_ydata()) == pytest.approx([0.0, 1.0, 2.0, 4.0])
    labels = [line.get_label() for line in ax.get_lines()]
    assert "monotone PCHIP" in labels
    assert any("joint (drop_20): 2400 synthetic ≈ 200 real" in t.get_text()
               for t in ax.get_legend().get_texts())


def test_a_comparison_must_name_an_arm_of_the_table() -> None:
    report = AblationReport(title="t", comparisons=[["drop_10", "drop_30"]])
    with pytest.raises(ValueError, match=r"names drop_30, not an arm of this table"):
        build_results_table(report, baseline__metrics=_metrics("real_only", 0.80),
                            drop_10__metrics=_metrics("joint", 0.81, n_syn=2700))


def test_a_table_needs_a_baseline() -> None:
    with pytest.raises(ValueError, match="needs a 'baseline' arm"):
        build_results_table(AblationReport(title="t"), drop_10__metrics=_metrics("joint", 0.81))


def _threshold_table() -> pd.DataFrame:
    """A baseline and two threshold arms with their own FID and IS."""
    arms = {"drop_10": (0.81, 0.1, 3.0, 4.0), "drop_30": (0.83, 0.3, 2.5, 4.5)}
    metrics = {f"{arm}__metrics": {**_metrics("joint", top1, n_syn=2700), "fid": fid,
                                   "inception_score": score}
               for arm, (top1, _, fid, score) in arms.items()}
    filters = {f"{arm}__filter": {"drop_fraction": fraction}
               for arm, (_, fraction, _, _) in arms.items()}
    table, _ = build_results_table(AblationReport(title="t"),
                                   baseline__metrics={**_metrics("real_only", 0.80), "fid": 3.5,
                                                      "inception_score": 3.5},
                                   **metrics, **filters)
    return table


def test_threshold_plot_draws_gain_fid_and_is_against_the_drop_fraction() -> None:
    table = _threshold_table()
    gain, fid, score = plot_threshold(table).axes
    measured = gain.get_lines()[0]  # the gains' points (their whiskers follow)
    assert list(measured.get_xdata()) == pytest.approx([10.0, 30.0])
    assert list(measured.get_ydata()) == pytest.approx([1.0, 3.0])
    for ax, values, floor in ((fid, [3.5, 3.0, 2.5], 1.0), (score, [3.5, 4.0, 4.5], 5.0)):
        synthetic, real = ax.get_lines()  # the 0 % point is the baseline's unfiltered pool
        assert list(synthetic.get_xdata()) == pytest.approx([0.0, 10.0, 30.0])
        assert list(synthetic.get_ydata()) == pytest.approx(values)
        assert list(real.get_ydata()) == pytest.approx([floor] * 3)


def test_without_a_curve_no_arm_is_placed() -> None:
    table = _threshold_table()
    assert table.loc[1, "exchange_note"] == "no real-augmentation curve in this run"


def test_a_pair_may_name_a_curve_arm() -> None:
    # joint gains +2 pp on every seed, as the curve's 200-image arm: no difference, p = 1.
    report = AblationReport(title="t", comparisons=[["drop_20", "real_curve_2"]])
    _, comparisons = build_results_table(
        report, baseline__metrics=_metrics("real_only", 0.80),
        drop_20__metrics=_metrics("joint", 0.82, n_syn=2400), **_curve())
    row = comparisons.iloc[-1]
    assert (row["arm"], row["reference"], row["diff_pp"], row["p_value"]) == (
        "drop_20", "real_curve_2", pytest.approx(0.0), 1.0)
