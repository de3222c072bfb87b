"""Reporting nodes on constructed metrics: gains, IR, Markdown and plots."""

from __future__ import annotations

import math
import re

import pytest

from genaug.pipelines.reporting.nodes import (
    build_results_table,
    plot_strategies,
    plot_threshold,
    results_markdown,
)


def _metrics(strategy: str, top1: float, n_syn: int = 0, extra: int = 0) -> dict:
    return {"strategy": strategy, "seeds": [0, 1], "top1": [top1, top1], "top1_mean": top1,
            "top1_std": 0.01, "fid": 3.0, "inception_score": 4.0, "inception_score_std": 0.1,
            "feature_extractor": "evaluator-cnn", "n_real": 1000, "n_synthetic": n_syn,
            "n_extra_real": extra}


def test_training_table_gains_and_improvement_ratio() -> None:
    table = build_results_table(
        baseline__metrics=_metrics("real_only", 0.80),
        joint__metrics=_metrics("joint", 0.82, n_syn=2400),
        sequential__metrics=_metrics("sequential", 0.79, n_syn=2400),
        real_augmented__metrics=_metrics("real_augmented", 0.84, extra=2400),
        joint__filter={"drop_fraction": 0.2},
    ).set_index("arm")
    assert table.loc["joint", "gain_pp"] == pytest.approx(2.0)
    assert table.loc["joint", "relative_gain"] == pytest.approx(0.025)
    assert table.loc["joint", "improvement_ratio"] == pytest.approx(0.5)
    assert table.loc["sequential", "improvement_ratio"] == pytest.approx(-0.25)
    assert math.isnan(table.loc["real_augmented", "improvement_ratio"])
    assert table.loc["joint", "drop_fraction"] == 0.2
    assert table["fid_set"].to_dict() == {"baseline": "unfiltered pool", "joint": "kept images",
                                          "sequential": "kept images",
                                          "real_augmented": "kept images"}
    markdown = results_markdown(table.reset_index(), "Training")
    assert re.search(r"\| joint +\|", markdown) and "0.50" in markdown
    assert plot_strategies(table.reset_index()).axes


def test_undefined_ir_is_explained() -> None:
    table = build_results_table(
        baseline__metrics=_metrics("real_only", 0.80),
        joint__metrics=_metrics("joint", 0.82, n_syn=10),
        real_augmented__metrics=_metrics("real_augmented", 0.80, extra=10),
    )
    joint = table.set_index("arm").loc["joint"]
    assert joint["improvement_ratio"] is None or math.isnan(joint["improvement_ratio"])
    assert "not positive" in joint["ir_note"]
    assert "IR of `joint`" in results_markdown(table, "Training")


def test_threshold_plot_and_missing_baseline() -> None:
    table = build_results_table(
        baseline__metrics=_metrics("real_only", 0.80),
        drop_10__metrics=_metrics("joint", 0.81, n_syn=2700),
        drop_10__filter={"drop_fraction": 0.1},
    )
    assert len(plot_threshold(table).axes) == 3
    with pytest.raises(ValueError, match="needs a 'baseline' arm"):
        build_results_table(drop_10__metrics=_metrics("joint", 0.81))
