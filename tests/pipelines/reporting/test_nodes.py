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


def test_training_table_gains_tests_ir_and_exchange_rate() -> None:
    table, comparisons = _training_table()
    table = table.set_index("arm")
    assert table.index.tolist() == ["baseline", "drop_20", "sequential", "real_augmented",
                                    "real_curve_1", "real_curve_2", "real_curve_3"]
    assert table["role"].tolist() == ["baseline", "arm", "arm", "arm", "curve", "curve", "curve"]
    joint = table.loc["drop_20"]
    assert joint["label"] == "joint (drop_20)"
    assert joint["gain_pp"] == pytest.approx(2.0)
    assert joint["gain_ci_low"] < 2.0 < joint["gain_ci_high"]
    assert joint["test"] == "paired t-test over 3 seeds"
    assert joint["relative_gain"] == pytest.approx(0.025)
    assert joint["improvement_ratio"] == pytest.approx(0.5)
    assert table.loc["sequential", "improvement_ratio"] == pytest.approx(-0.25)
    assert math.isnan(table.loc["real_augmented", "improvement_ratio"])
    # +2 pp sits exactly on the curve's 200-image point: 2400 synthetic are worth 200 real.
    assert joint["equivalent_real"] == pytest.approx(200)
    assert joint["exchange_rate"] == pytest.approx(12.0)
    assert joint["equivalent_real_ci_low"] < 200 < joint["equivalent_real_ci_high"]
    assert "below the curve's start" in table.loc["sequential", "exchange_note"]
    assert table.loc["baseline", "top1_per_seed"] == "0:0.798000;1:0.800000;2:0.802000"
    assert table.loc["baseline", "top1_ci_low"] < 0.80 < table.loc["baseline", "top1_ci_high"]
    assert table["fid_set"].to_dict()["real_augmented"] == "added real images"
    # Curve rows are references: a gain but no test in the family.
    assert math.isnan(table.loc["real_curve_2", "p_value"])
    assert table.loc["real_curve_2", "gain_pp"] == pytest.approx(2.0)
    # 3 arms vs baseline + sequential vs drop_20, Holm over these 4.
    assert list(zip(comparisons["arm"], comparisons["reference"], strict=True)) == [
        ("drop_20", "baseline"), ("sequential", "baseline"), ("real_augmented", "baseline"),
        ("sequential", "drop_20")]
    # real_augmented and baseline share their seed noise: +4 pp on every seed, no t-test; the
    # family is the 3 defined p-values, the smallest multiplied by 3.
    assert math.isnan(comparisons.loc[2, "p_value"]) and "same on every seed" in \
        comparisons.loc[2, "note"]
    raw = comparisons["p_value"].dropna()
    smallest = raw.idxmin()
    assert comparisons.loc[smallest, "p_holm"] == pytest.approx(min(1.0, 3 * raw[smallest]))
    assert table.loc["sequential", "p_holm"] == pytest.approx(comparisons["p_holm"][1])
    # Every comparison ends in one of four verdicts; an open one says what would settle it.
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


def test_plots_draw_cis_and_the_curve() -> None:
    table, _ = _training_table()
    assert plot_strategies(table).axes
    ax = plot_exchange_rate(table).axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert "monotone PCHIP" in labels
    assert any("joint (drop_20): 2400 synthetic ≈ 200 real" in t.get_text()
               for t in ax.get_legend().get_texts())


def test_threshold_plot_comparison_names_and_missing_baseline() -> None:
    report = AblationReport(title="t", comparisons=[["drop_10", "drop_30"]])
    with pytest.raises(ValueError, match=r"names drop_30, not an arm of this table"):
        build_results_table(report, baseline__metrics=_metrics("real_only", 0.80),
                            drop_10__metrics=_metrics("joint", 0.81, n_syn=2700))
    table, _ = build_results_table(
        AblationReport(title="t"),
        baseline__metrics=_metrics("real_only", 0.80),
        drop_10__metrics=_metrics("joint", 0.81, n_syn=2700),
        drop_10__filter={"drop_fraction": 0.1},
    )
    assert len(plot_threshold(table).axes) == 3
    assert table.loc[1, "exchange_note"] == "no real-augmentation curve in this run"
    with pytest.raises(ValueError, match="needs a 'baseline' arm"):
        build_results_table(AblationReport(title="t"), drop_10__metrics=_metrics("joint", 0.81))


def test_a_pair_may_name_a_curve_arm() -> None:
    # joint gains +2 pp on every seed, as the curve's 200-image arm: no difference, p = 1.
    report = AblationReport(title="t", comparisons=[["drop_20", "real_curve_2"]])
    _, comparisons = build_results_table(
        report, baseline__metrics=_metrics("real_only", 0.80),
        drop_20__metrics=_metrics("joint", 0.82, n_syn=2400), **_curve())
    row = comparisons.iloc[-1]
    assert (row["arm"], row["reference"], row["diff_pp"], row["p_value"]) == (
        "drop_20", "real_curve_2", pytest.approx(0.0), 1.0)
