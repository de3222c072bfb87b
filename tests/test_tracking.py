"""Per-arm MLflow child runs (`genaug.tracking.ArmRunsHook`) and the parent run's content
(`ParentRunHook`), read back through `MlflowClient`.

One module fixture: `kedro run` (`__default__`) on conf/test with two training seeds, then an
`--only-missing-outputs` rerun of `ablation_threshold` after changing drop_10's drop fraction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
from kedro.framework.session import KedroSession
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from genaug.config import ValidatingConfigLoader
from genaug.models.diffusion import LOSS_KEY
from genaug.settings import CONFIG_LOADER_ARGS
from genaug.tracking import (
    ArmRunsHook,
    ParentRunHook,
    history_metrics,
    kept_metrics,
    loss_curve,
    metric_key,
    phases_note,
    report_metrics,
    table_row_metrics,
)
from tests.support import REPO, KedroProject, declared, ran_project

SEEDS = [0, 1]
RUN_PARAMS = {"training": {"seeds": SEEDS}}
RERUN_PARAMS = {**RUN_PARAMS, "drop_10": {"filter": {"drop_fraction": 0.5}}}
PARENT = "mlflow.parentRunId"


@dataclass
class Tracked:
    """The project, its MLflow store and the runs of both `kedro run`s."""

    project: KedroProject
    client: MlflowClient
    parents: list[Run]  # [the __default__ run, the rerun]
    children: list[dict[str, Run]]  # arm -> child run, per parent


def _store(project: KedroProject) -> tuple[MlflowClient, str]:
    """The tracking store and experiment the environment's mlflow.yml names."""
    with KedroSession.create(project_path=project.root, env=project.env) as session:
        config = session.load_context().mlflow
    client = MlflowClient(config.server.mlflow_tracking_uri)
    return client, client.get_experiment_by_name(config.tracking.experiment.name).experiment_id


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracked]:
    """Both runs, shared by the module; runs read back once."""
    with ran_project(tmp_path_factory, "tracking", "__default__", params=RUN_PARAMS) as project:
        project.run("ablation_threshold", params=RERUN_PARAMS, only_missing_outputs=True)
        client, experiment = _store(project)
        runs = client.search_runs([experiment], order_by=["attributes.start_time ASC"],
                                  max_results=1000)
        parents = [run for run in runs if PARENT not in run.data.tags]
        children = [{run.data.tags["arm"]: run for run in runs
                     if run.data.tags.get(PARENT) == parent.info.run_id} for parent in parents]
        yield Tracked(project, client, parents, children)


def _declaring_catalog() -> DataCatalog:
    """A catalog with conf/test's validated `ablations` and `data_processing` blocks (what the
    arm-runs hook reads the declared arms from)."""
    loader = ValidatingConfigLoader(str(REPO / "conf"), env="test", **CONFIG_LOADER_ARGS)
    params = loader["parameters"]
    return DataCatalog({f"params:{key}": MemoryDataset(params[key], copy_mode="assign")
                        for key in ("ablations", "data_processing")})


def _history(tracked: Tracked, run: Run, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in tracked.client.get_metric_history(
        run.info.run_id, key))


def _latest_file(project: KedroProject, pattern: str) -> Path:
    """The newest saved version of a versioned file under the environment's data root."""
    return sorted(project.root.glob(f"data/**/{pattern}/*/{Path(pattern).name}"))[-1]


def test_each_kedro_run_is_a_parent_with_a_child_per_arm_it_computed(tracked: Tracked) -> None:
    assert len(tracked.parents) == 2
    first, rerun = tracked.children
    # __default__ holds every ablation but the data-size one (its own pipeline)
    assert set(first) == set(declared().all_arms) - set(declared().size_arms)
    assert set(rerun) == {"drop_10"}  # every other arm was reused, not recomputed
    for parent, children in zip(tracked.parents, tracked.children, strict=True):
        assert parent.info.status == "FINISHED"
        for arm, child in children.items():
            assert child.info.status == "FINISHED"
            assert child.info.run_name == arm
            assert child.info.experiment_id == parent.info.experiment_id
            assert parent.info.start_time <= child.info.start_time <= child.info.end_time \
                <= parent.info.end_time
    tags = {arm: run.data.tags for arm, run in first.items()}
    assert tags["baseline"]["ablation"] == "threshold,training,quality"  # every table's reference
    assert tags["quality__guidance_scale_1p0__drop_fraction_0p2"]["ablation"] == "quality"
    assert tags["drop_20"]["ablation"] == "threshold,training"  # joint training, run once
    assert tags["sequential"]["ablation"] == "training"
    assert tags["real_curve_3"]["ablation"] == "threshold,training"
    assert {arm: tags[arm]["strategy"] for arm in ("baseline", "drop_10", "drop_20",
                                                   "sequential", "real_augmented",
                                                   "real_curve_1")} == {
        "baseline": "real_only", "drop_10": "joint", "drop_20": "joint",
        "sequential": "sequential", "real_augmented": "real_augmented",
        "real_curve_1": "real_augmented"}
    assert tags["drop_20"]["feature_extractor"] == "evaluator-cnn"


def test_child_params_are_the_arms_effective_parameters(tracked: Tracked) -> None:
    first, rerun = tracked.children
    params = {arm: run.data.params for arm, run in first.items()}
    assert params["drop_10"]["filter.drop_fraction"] == "0.1"
    assert params["drop_30"]["filter.drop_fraction"] == "0.3"
    assert rerun["drop_10"].data.params["filter.drop_fraction"] == "0.5"
    assert params["drop_30"]["training.strategy"] == "joint"
    assert params["sequential"]["training.strategy"] == "sequential"
    # sequential trains on drop_20's (the joint arm's) kept images: its filter is drop_20's.
    assert first["sequential"].data.tags["synthetic_from"] == "drop_20.synthetic_kept"
    assert params["sequential"]["filter.drop_fraction"] == \
        params["drop_20"]["filter.drop_fraction"]
    assert params["real_curve_2"]["training.extra_real_per_class"] == "2"  # conf/test
    assert first["baseline"].data.tags["synthetic_from"] == "synthetic_pool"
    assert not [key for key in params["baseline"] if key.startswith("filter.")]
    catalog = tracked.project.catalog(RUN_PARAMS)
    training = catalog.load("params:drop_20.training")
    assert params["drop_20"]["training.seeds"] == str(SEEDS)
    assert params["drop_20"]["training.epochs"] == str(training.epochs) == "2"  # conf/test
    assert params["drop_20"]["training.fast_cnn.widths"] == str(training.fast_cnn.widths)
    assert params["drop_20"]["evaluation.is_splits"] == "2"
    assert params["drop_20"]["seed"] == str(catalog.load("params:seed"))


def test_child_metrics_per_seed_per_epoch_and_from_the_results_table(tracked: Tracked) -> None:
    first, rerun = tracked.children
    project = tracked.project
    saved = project.load("drop_20.metrics")
    logged = first["drop_20"].data.metrics
    for key in ("top1_mean", "top1_std", "fid", "inception_score", "n_synthetic"):
        assert logged[key] == pytest.approx(saved[key]), key
    assert _history(tracked, first["drop_20"], "top1_per_seed") == [
        (0, pytest.approx(saved["top1"][0])), (1, pytest.approx(saved["top1"][1]))]
    assert logged["per_class_top1/T-shirt_top"] == pytest.approx(
        saved["per_class_top1"]["T-shirt/top"])

    history = project.load("drop_20.training_history")["runs"]
    for seed in SEEDS:
        (phase,) = history[str(seed)]["phases"]
        assert _history(tracked, first["drop_20"], f"train_loss/seed_{seed}") == [
            (1, pytest.approx(phase["loss"][0])), (2, pytest.approx(phase["loss"][1]))]
        assert [v for _, v in _history(tracked, first["drop_20"], f"train_acc/seed_{seed}")] \
            == pytest.approx(phase["train_acc"])
    pretrain, finetune = project.load("sequential.training_history")["runs"]["0"]["phases"]
    assert _history(tracked, first["sequential"], "train_loss/seed_0") == [
        (1, pytest.approx(pretrain["loss"][0])), (2, pytest.approx(finetune["loss"][0]))]
    assert first["sequential"].data.tags["training.phases"] == \
        "pretrain: epochs 1-1 on synthetic; finetune: epochs 2-2 on real"

    threshold = project.load("threshold_results").set_index("arm")  # the rerun's table
    training = project.load("training_results").set_index("arm")
    assert first["baseline"].data.metrics["gain_pp"] == 0
    assert first["drop_20"].data.metrics["gain_pp"] == pytest.approx(
        threshold.loc["drop_20", "gain_pp"])
    assert rerun["drop_10"].data.metrics["gain_pp"] == pytest.approx(
        threshold.loc["drop_10", "gain_pp"])
    assert rerun["drop_10"].data.metrics["relative_gain"] == pytest.approx(
        threshold.loc["drop_10", "relative_gain"])
    for arm in ("drop_20", "sequential"):  # the IR, or the reason it is undefined
        assert "improvement_ratio" in first[arm].data.metrics \
            or first[arm].data.tags.get("ir_note") == training.loc[arm, "ir_note"]
    assert "improvement_ratio" not in first["real_augmented"].data.metrics
    # The statistics of the row: CIs, the paired test, the real floor.
    logged = first["drop_20"].data.metrics
    for key in ("top1_ci_low", "top1_ci_high", "gain_ci_low", "gain_ci_high", "p_value",
                "p_holm", "fid_floor", "inception_score_floor"):
        assert key in logged, key
    # drop_20 is in both tables: the training table's Holm p (another family) is logged under
    # `training/` where it differs from the value logged first.
    assert logged.get("training/p_holm", logged["p_holm"]) == pytest.approx(
        training.loc["drop_20", "p_holm"])
    assert first["real_curve_5"].data.metrics["n_extra_real"] == 4 * 8  # 4 classes x 8


def test_child_artifacts_hold_metrics_history_and_the_grid_of_its_images(
        tracked: Tracked, tmp_path: Path) -> None:
    first, _ = tracked.children
    client, project = tracked.client, tracked.project
    drop_20 = first["drop_20"].info.run_id
    assert {a.path for a in client.list_artifacts(drop_20)} == {
        "metrics.json", "training_history.json", "grids"}
    metrics = json.loads(Path(client.download_artifacts(drop_20, "metrics.json",
                                                        str(tmp_path))).read_text())
    assert metrics == project.load("drop_20.metrics")
    expected = {
        "drop_20": ("grids/filter_grid.png", "drop_20/filter_grid.png"),
        "sequential": ("grids/filter_grid.png", "drop_20/filter_grid.png"),  # joint's images
        "baseline": ("grids/generator_samples_grid.png", "generator_samples_grid.png"),
    }
    for arm, (artifact, saved) in expected.items():
        local = client.download_artifacts(first[arm].info.run_id, artifact, str(tmp_path / arm))
        assert Path(local).read_bytes() == _latest_file(project, saved).read_bytes(), arm


def test_parents_hold_the_generator_loss_curve(tracked: Tracked) -> None:
    generator = tracked.project.load("generator")
    losses = generator[LOSS_KEY].tolist()
    steps = tracked.project.catalog().load("params:synthesis").train.steps
    assert len(losses) == steps
    for parent in tracked.parents:  # made in the first run, reused by the rerun
        assert _history(tracked, parent, "generator/loss") == [
            (step, pytest.approx(value)) for step, value in enumerate(losses, start=1)]
        artifacts = {a.path for a in tracked.client.list_artifacts(parent.info.run_id,
                                                                   "generator")}
        assert {"generator/generator_samples_grid.png",
                "generator/generator_report.png"} <= artifacts


def test_parents_hold_the_generator_report_and_kept_fidelity(tracked: Tracked) -> None:
    """The report's numbers and JSON on the run that computed it; kept-set fidelity per arm on
    every run that recomputed it (the rerun changed drop_10's filter)."""
    first, rerun = tracked.parents
    report = tracked.project.load("generator_report")
    for key, value in report_metrics(report).items():
        assert _history(tracked, first, key) == [(0, pytest.approx(value))], key
    assert _history(tracked, first, "generator/cas") == [(0, pytest.approx(report["cas"]))]
    artifacts = {a.path for a in tracked.client.list_artifacts(first.info.run_id, "generator")}
    assert "generator/generator_report.json" in artifacts
    kept = tracked.project.load("threshold_kept_fidelity")
    for key, value in kept_metrics(kept).items():
        assert _history(tracked, rerun, key) == [(0, pytest.approx(value))], key
    assert _history(tracked, rerun, "generator/cas") == []  # reused, not recomputed


def test_parents_hold_every_verdict_and_children_their_verdict_vs_the_baseline(
        tracked: Tracked) -> None:
    first = tracked.parents[0]
    for ablation in ("threshold", "training"):
        comparisons = pd.read_csv(tracked.project.data / "08_reporting" / ablation /
                                  "comparisons.csv")
        for row in comparisons.to_dict("records"):
            key = f"{ablation}/verdict/{metric_key(row['arm'])} vs {metric_key(row['reference'])}"
            assert first.data.tags[key] == row["verdict"], key
    table = pd.read_csv(tracked.project.data / "08_reporting" / "training" / "results.csv")
    verdict = table.set_index("arm").loc["sequential", "verdict"]
    assert tracked.children[0]["sequential"].data.tags["training/verdict"] == verdict


def test_the_hook_does_nothing_without_an_active_mlflow_run(tmp_path: Path) -> None:
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        assert mlflow.active_run() is None
        arms, parent = ArmRunsHook(), ParentRunHook()
        node = Node(lambda x: x, "drop_10.training_history", "drop_10.metrics",
                    name="evaluate_classifier", namespace="drop_10")
        catalog = DataCatalog()  # no declared arms either: the hook never reads them
        outputs = {"drop_10.metrics": {"top1": [0.5], "top1_mean": 0.5},
                   "generator": {LOSS_KEY: torch.ones(3)}}
        arms.before_pipeline_run(catalog)
        parent.before_pipeline_run()
        arms.before_node_run(node)
        arms.after_node_run(node, catalog, {"drop_10.training_history": {}}, outputs)
        parent.after_node_run(outputs)
        arms.after_pipeline_run(Pipeline([node]), catalog)
        parent.after_pipeline_run(Pipeline([node]), catalog)
    finally:
        mlflow.set_tracking_uri(previous)
    assert not (tmp_path / "mlflow.db").exists()  # no client ever touched the store


def test_curves_continue_through_the_phases_of_a_seed() -> None:
    history = {"runs": {"3": {"phases": [
        {"name": "pretrain", "pools": ["synthetic"], "loss": [2.0, 1.5], "train_acc": [.2, .4]},
        {"name": "finetune", "pools": ["real"], "loss": [1.0], "train_acc": [.6]},
    ]}}}
    assert history_metrics(history) == [
        ("train_loss/seed_3", 2.0, 1), ("train_acc/seed_3", 0.2, 1),
        ("train_loss/seed_3", 1.5, 2), ("train_acc/seed_3", 0.4, 2),
        ("train_loss/seed_3", 1.0, 3), ("train_acc/seed_3", 0.6, 3),
    ]
    assert phases_note(history) == "pretrain: epochs 1-2 on synthetic; finetune: epochs 3-3 on real"
    assert history_metrics({}) == []


def test_metric_names_and_values_mlflow_accepts() -> None:
    assert metric_key("T-shirt/top") == "T-shirt_top"
    assert metric_key("Ankle boot") == "Ankle boot"
    row = {"arm": "drop_10", "drop_fraction": 0.1, "top1_mean": 0.5, "gain_pp": 1.25,
           "improvement_ratio": None, "fid": float("nan"), "n_seeds": 2, "ir_note": "why"}
    assert table_row_metrics(row) == {"top1_mean": 0.5, "gain_pp": 1.25, "n_seeds": 2.0}
    assert loss_curve({LOSS_KEY: torch.tensor([0.5, 0.25])}) == [
        ("generator/loss", 0.5, 1), ("generator/loss", 0.25, 2)]
    assert loss_curve({"meta.config": torch.zeros(1)}) == []  # a pretrained reference


def test_an_arm_run_opens_with_its_first_node_and_fails_with_the_pipeline(
        tmp_path: Path) -> None:
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        client = MlflowClient()
        experiment = client.create_experiment("arms")
        mlflow.start_run(experiment_id=experiment)
        arms = ArmRunsHook()
        arms.before_pipeline_run(_declaring_catalog())
        node = Node(lambda x: x, "drop_10.x", "drop_10.y", name="n", namespace="drop_10")
        arms.before_node_run(node)
        (child,) = client.search_runs([experiment], f"tags.{PARENT} != ''")
        assert (child.info.run_name, child.info.status) == ("drop_10", "RUNNING")
        assert child.data.tags["ablation"] == "threshold"
        arms.on_pipeline_error()
    finally:
        while mlflow.active_run():
            mlflow.end_run("FAILED")
        mlflow.set_tracking_uri(previous)
    child = client.get_run(child.info.run_id)
    assert child.info.status == "FAILED"
    assert child.data.tags["mlflow.note.content"] == "The pipeline failed while this arm ran."
