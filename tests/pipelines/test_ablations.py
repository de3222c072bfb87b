"""The threshold and training ablations end to end on conf/test with two seeds, from one
`kedro run` of `__default__` (which runs the quality grid too; its map is
tests/pipelines/test_quality.py's): tables with their statistics and exchange rate,
comparisons, MLflow, reruns, notebook and kedro-viz."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from kedro.framework.session import KedroSession

from tests.support import (
    KedroProject,
    declared,
    execute_results_notebook,
    notebook_errors,
    notebook_images,
    notebook_text,
    ran_project,
)

CURVE = list(declared().curve)
THRESHOLD_ARMS = ["baseline", "drop_10", "drop_20", "drop_30"]
TRAINING_ARMS = ["baseline", "drop_20", "sequential", "real_augmented"]
SEEDS = {"training": {"seeds": [0, 1]}}
STATISTICS = ["n_seeds", "top1_per_seed", "top1_ci_low", "top1_ci_high", "gain_ci_low",
              "gain_ci_high", "p_value", "p_holm", "test", "equivalent_real",
              "equivalent_real_ci_low", "equivalent_real_ci_high", "exchange_rate",
              "exchange_note", "fid_floor", "inception_score_floor", "n_floor"]


@pytest.fixture(scope="module")
def ablated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KedroProject]:
    """One `kedro run` of `__default__` (both ablations) on conf/test, shared by the module."""
    with ran_project(tmp_path_factory, "ablations", "__default__", params=SEEDS) as project:
        yield project


def _versions(project: KedroProject, relative: str) -> list[str]:
    return sorted(p.name for p in (project.data / relative).iterdir())


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def test_threshold_table_has_every_arm_with_finite_metrics(ablated: KedroProject) -> None:
    table = pd.read_csv(ablated.data / "08_reporting/threshold/results.csv")
    assert table["arm"].tolist() == THRESHOLD_ARMS + CURVE  # the curve rows: the yardstick
    curve = table[table["role"] == "curve"]
    table = table[table["role"] != "curve"].reset_index(drop=True)
    assert table["drop_fraction"].tolist() == [0.0, 0.1, 0.2, 0.3]
    for column in ("top1_mean", "top1_std", "gain_pp", "fid", "inception_score", "fid_floor",
                   "inception_score_floor", "top1_ci_low", "top1_ci_high"):
        assert table[column].map(_finite).all(), column
    assert (table["n_seeds"] == 2).all()
    assert table.loc[0, "top1_per_seed"].startswith("0:") and ";1:" in table.loc[0, "top1_per_seed"]
    assert (table["top1_ci_low"] <= table["top1_mean"]).all()
    assert (table["top1_mean"] <= table["top1_ci_high"]).all()
    arms = table.iloc[1:]
    assert (arms["test"] == "paired t-test over 2 seeds").all()
    for arm in arms.to_dict("records"):  # E, or the stated reason it is undefined
        assert _finite(arm["equivalent_real"]) or isinstance(arm["exchange_note"], str), arm
        assert (_finite(arm["p_value"]) and _finite(arm["p_holm"])
                and arm["p_holm"] >= arm["p_value"]) or arm["gain_ci_low"] == arm["gain_ci_high"]
    assert (table["n_floor"].iloc[1:] == table["n_synthetic"].iloc[1:]).all()
    assert curve["n_extra_real"].tolist() == [4 * n for n in (1, 2, 4, 6, 8)]
    comparisons = pd.read_csv(ablated.data / "08_reporting/threshold/comparisons.csv")
    assert list(zip(comparisons["arm"], comparisons["reference"], strict=True)) == [
        ("drop_10", "baseline"), ("drop_20", "baseline"), ("drop_30", "baseline"),
        ("drop_20", "drop_10"), ("drop_30", "drop_20")]
    assert table["top1_mean"].between(0, 1).all()
    assert table.loc[0, "gain_pp"] == 0
    kept = table.set_index("arm")["n_synthetic"]
    assert kept["drop_10"] > kept["drop_20"] > kept["drop_30"] > 0
    assert set(table["feature_extractor"]) == {"evaluator-cnn"}
    markdown = (ablated.data / "08_reporting/threshold/results.md").read_text()
    assert all(f"| {arm} " in markdown for arm in THRESHOLD_ARMS)
    assert "±" not in markdown and "**Verdict" in markdown
    assert "* `drop_30` − `drop_20`: " in markdown
    for plot in ("plot.png", "exchange_rate.png"):
        assert (ablated.data / "08_reporting/threshold" / plot).stat().st_size > 10_000


def test_cas_trains_the_first_seed_only_by_default(ablated: KedroProject) -> None:
    # generator_report.cas_seeds: 1 keeps the report at one classifier, whatever training.seeds.
    report = next((ablated.data / "08_reporting/generator_report.json").glob("*/*.json"))
    detail = json.loads(report.read_text())["cas_detail"]
    assert detail["seeds"] == [0] and len(detail["top1"]) == 1


def test_training_table_has_strategies_gains_and_ir(ablated: KedroProject) -> None:
    table = pd.read_csv(ablated.data / "08_reporting/training/results.csv").set_index("arm")
    assert table.index.tolist() == TRAINING_ARMS + CURVE
    assert table["strategy"].tolist() == ["real_only", "joint", "sequential",
                                          "real_augmented"] + ["real_augmented"] * len(CURVE)
    assert table.loc["drop_20", "label"] == "joint (drop_20)"
    assert table["top1_mean"].map(_finite).all()
    assert set(STATISTICS) <= set(table.columns)
    assert table.loc["real_augmented", "n_extra_real"] == table.loc["drop_20", "n_synthetic"]
    # real_augmented's FID/IS are of the real images it adds, and the curve's of theirs.
    assert (table.loc[["real_augmented", *CURVE], "fid_set"] == "added real images").all()
    assert table.loc[["real_augmented", *CURVE], "fid"].map(_finite).all()
    markdown = (ablated.data / "08_reporting/training/results.md").read_text()
    assert "* `sequential` − `joint (drop_20)`: " in markdown and "**Verdict" in markdown
    assert (ablated.data / "08_reporting/training/exchange_rate.png").stat().st_size > 10_000
    for arm in ("drop_20", "sequential"):
        ir, note = table.loc[arm, "improvement_ratio"], table.loc[arm, "ir_note"]
        assert _finite(ir) or isinstance(note, str), arm  # IR or the reason it is undefined
        expected = 100 * (table.loc[arm, "top1_mean"] - table.loc["baseline", "top1_mean"])
        assert table.loc[arm, "gain_pp"] == pytest.approx(expected)


def test_mlflow_run_holds_per_arm_metrics_params_and_artifacts(ablated: KedroProject) -> None:
    with KedroSession.create(project_path=ablated.root, env=ablated.env) as session:
        config = session.load_context().mlflow  # the environment's store and experiment
    client = mlflow.MlflowClient(tracking_uri=config.server.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(config.tracking.experiment.name)
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    run = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)  # the first kedro run
    assert run.info.status == "FINISHED"
    children = {r.data.tags["arm"]: r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == run.info.run_id}
    assert set(children) == {*THRESHOLD_ARMS, *TRAINING_ARMS, *CURVE, *declared().quality}
    table = ablated.load("threshold_results")  # the results table, wherever the env keeps it
    for arm in {*THRESHOLD_ARMS, *TRAINING_ARMS}:
        assert children[arm].info.status == "FINISHED"
        for metric in ("top1_mean", "top1_std", "gain_pp", "relative_gain"):
            assert metric in children[arm].data.metrics, (arm, metric)
    for row in table.to_dict("records"):
        metrics = children[row["arm"]].data.metrics
        assert metrics["top1_mean"] == pytest.approx(row["top1_mean"])
        assert metrics["fid"] == pytest.approx(row["fid"])
    assert float(children["drop_30"].data.params["filter.drop_fraction"]) == 0.3
    assert float(run.data.params["drop_30.filter.drop_fraction"]) == 0.3
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "threshold")}
    assert {"threshold/results.csv", "threshold/results.md", "threshold/plot.png",
            "threshold/comparisons.csv", "threshold/exchange_rate.png"} <= artifacts
    grids = {a.path for a in client.list_artifacts(children["drop_30"].info.run_id, "grids")}
    assert grids == {"grids/filter_grid.png"}


def test_rerun_only_missing_reuses_shared_work_and_recomputes_changed_arm(
        ablated: KedroProject) -> None:
    shared = ["06_models/generator.safetensors", "05_model_input/synthetic_pool",
              "07_model_output/synthetic_scores.safetensors", "06_models/evaluator.safetensors"]
    before = {name: _versions(ablated, name) for name in shared}
    untouched = _versions(ablated, "05_model_input/drop_20/synthetic_kept.safetensors")
    ablated.run("ablation_threshold", params={**SEEDS, "drop_10": {"filter": {
        "drop_fraction": 0.5}}}, only_missing_outputs=True)
    assert {name: _versions(ablated, name) for name in shared} == before
    assert _versions(ablated, "05_model_input/drop_20/synthetic_kept.safetensors") == untouched
    assert len(_versions(ablated, "05_model_input/drop_10/synthetic_kept.safetensors")) == 2
    table = pd.read_csv(ablated.data / "08_reporting/threshold/results.csv")
    assert table.set_index("arm").loc["drop_10", "drop_fraction"] == 0.5


def test_analysis_notebook_shows_both_ablations_after_both_ran(ablated: KedroProject) -> None:
    notebook = execute_results_notebook(ablated.root, env="test")
    assert notebook_errors(notebook) == []
    text = notebook_text(notebook)
    assert all(f"| {arm} " in text for arm in THRESHOLD_ARMS + TRAINING_ARMS)
    assert "produces them" not in text  # no "run this first" note: every ablation has results
    # ... but the data-size ablation, its own command, which __default__ does not run
    assert "`kedro run --pipeline ablation_data_size --env test`, makes them" in text
    # threshold and strategies plots, each ablation's exchange-rate plot, per-class Top-1
    assert len(notebook_images(notebook)) == 5


def test_kedro_viz_build_works_offline_and_shows_arms(ablated: KedroProject) -> None:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "viz", "build"],
        cwd=ablated.root, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    main = json.loads((ablated.root / "build" / "api" / "main").read_text())
    modular = set(main["modular_pipelines"])
    assert {"drop_10", "drop_20", "drop_30", "baseline", "real_curve_1"} <= modular
    assert "joint" not in modular  # joint training is drop_20, shown once
    assert (ablated.root / "build" / "index.html").exists()
