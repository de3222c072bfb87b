"""Both ablations end to end on conf/test: tables, MLflow, reruns, notebook and kedro-viz."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from ..conftest import REPO, KedroProject, make_project

THRESHOLD_ARMS = ["baseline", "drop_10", "drop_20", "drop_30"]
TRAINING_ARMS = ["baseline", "joint", "sequential", "real_augmented"]


@pytest.fixture(scope="module")
def ablated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KedroProject]:
    """One `kedro run` of `__default__` (both ablations) on conf/test, shared by the module."""
    with pytest.MonkeyPatch.context() as patch:
        project = make_project(tmp_path_factory.mktemp("ablations") / "project")
        patch.chdir(project.root)
        project.run("__default__")
        yield project


def _versions(project: KedroProject, relative: str) -> list[str]:
    return sorted(p.name for p in (project.root / "data" / relative).iterdir())


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def test_threshold_table_has_every_arm_with_finite_metrics(ablated: KedroProject) -> None:
    table = pd.read_csv(ablated.root / "data/08_reporting/threshold/results.csv")
    assert table["arm"].tolist() == THRESHOLD_ARMS
    assert table["drop_fraction"].tolist() == [0.0, 0.1, 0.2, 0.3]
    for column in ("top1_mean", "top1_std", "gain_pp", "fid", "inception_score"):
        assert table[column].map(_finite).all(), column
    assert table["top1_mean"].between(0, 1).all()
    assert table.loc[0, "gain_pp"] == 0
    kept = table.set_index("arm")["n_synthetic"]
    assert kept["drop_10"] > kept["drop_20"] > kept["drop_30"] > 0
    assert set(table["feature_extractor"]) == {"evaluator-cnn"}
    markdown = (ablated.root / "data/08_reporting/threshold/results.md").read_text()
    assert all(f"| {arm} " in markdown for arm in THRESHOLD_ARMS)
    assert (ablated.root / "data/08_reporting/threshold/plot.png").stat().st_size > 10_000


def test_training_table_has_strategies_gains_and_ir(ablated: KedroProject) -> None:
    table = pd.read_csv(ablated.root / "data/08_reporting/training/results.csv").set_index("arm")
    assert table.index.tolist() == TRAINING_ARMS
    assert table["strategy"].tolist() == ["real_only", "joint", "sequential", "real_augmented"]
    assert table["top1_mean"].map(_finite).all()
    assert table.loc["real_augmented", "n_extra_real"] == table.loc["joint", "n_synthetic"]
    for arm in ("joint", "sequential"):
        ir, note = table.loc[arm, "improvement_ratio"], table.loc[arm, "ir_note"]
        assert _finite(ir) or isinstance(note, str), arm  # IR or the reason it is undefined
        expected = 100 * (table.loc[arm, "top1_mean"] - table.loc["baseline", "top1_mean"])
        assert table.loc[arm, "gain_pp"] == pytest.approx(expected)


def test_mlflow_run_holds_per_arm_metrics_params_and_artifacts(ablated: KedroProject) -> None:
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{ablated.root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("genaug")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    run = runs[0]
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    for arm in THRESHOLD_ARMS:
        assert f"ablation_threshold.{arm}.top1_mean" in metrics
    for arm in TRAINING_ARMS:
        assert f"ablation_training.{arm}.top1_mean" in metrics
    assert float(run.data.params["drop_30.filter.drop_fraction"]) == 0.3
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "threshold")}
    assert {"threshold/results.csv", "threshold/results.md", "threshold/plot.png"} <= artifacts


def test_rerun_only_missing_reuses_shared_work_and_recomputes_changed_arm(
        ablated: KedroProject) -> None:
    shared = ["06_models/generator.safetensors", "05_model_input/synthetic_pool",
              "07_model_output/synthetic_scores.safetensors", "06_models/evaluator.safetensors"]
    before = {name: _versions(ablated, name) for name in shared}
    untouched = _versions(ablated, "05_model_input/drop_20/synthetic_kept.safetensors")
    ablated.run("ablation_threshold", params={"drop_10": {"filter": {"drop_fraction": 0.5}}},
                only_missing_outputs=True)
    assert {name: _versions(ablated, name) for name in shared} == before
    assert _versions(ablated, "05_model_input/drop_20/synthetic_kept.safetensors") == untouched
    assert len(_versions(ablated, "05_model_input/drop_10/synthetic_kept.safetensors")) == 2
    table = pd.read_csv(ablated.root / "data/08_reporting/threshold/results.csv")
    assert table.set_index("arm").loc["drop_10", "drop_fraction"] == 0.5


def test_analysis_notebook_executes_against_the_catalog(ablated: KedroProject) -> None:
    (ablated.root / "notebooks").mkdir(exist_ok=True)
    path = ablated.root / "notebooks" / "results.ipynb"
    shutil.copy(REPO / "notebooks" / "results.ipynb", path)
    notebook = nbformat.read(path, as_version=4)
    env = {**os.environ, "KEDRO_ENV": "test", "KEDRO_DISABLE_TELEMETRY": "true"}
    old = dict(os.environ)
    os.environ.update(env)
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3


def test_kedro_viz_build_works_offline_and_shows_arms(ablated: KedroProject) -> None:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "viz", "build"],
        cwd=ablated.root, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    main = json.loads((ablated.root / "build" / "api" / "main").read_text())
    modular = set(main["modular_pipelines"])
    assert {"drop_10", "drop_20", "drop_30", "baseline"} <= modular
    assert (ablated.root / "build" / "index.html").exists()
