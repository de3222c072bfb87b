"""The project's hooks (genaug/hooks.py): the MLflow store anchored at the project root, each
arm's effective parameters in MLflow, missing inputs caught before the first node, and
`--only-missing-outputs` reusing outputs only while their parameters hold."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro_datasets.json import JSONDataset
from mlflow.tracking import MlflowClient

from genaug import hooks
from genaug.hooks import EffectiveParamsHook, MissingInputsHook, ProjectMlflowStoreHook
from genaug.preflight import MissingInputError
from genaug.settings import CONFIG_LOADER_ARGS
from tests.support import REPO, training_params

# ------------------------------------------------------------------------ ProjectMlflowStoreHook


def _context(conf: Path, project: Path, env: str | None = None) -> SimpleNamespace:
    """What the hook reads of a Kedro context: the config loader and the project path."""
    loader = OmegaConfigLoader(str(conf), env=env, **CONFIG_LOADER_ARGS)
    return SimpleNamespace(config_loader=loader, project_path=project)


def _conf_with_store(root: Path, uri: str) -> Path:
    """A conf/ folder whose base/mlflow.yml names `uri` as the tracking store."""
    (root / "conf" / "base").mkdir(parents=True)
    (root / "conf" / "local").mkdir()
    (root / "conf" / "base" / "mlflow.yml").write_text(
        f"server:\n  mlflow_tracking_uri: {uri}\n")
    return root / "conf"


def test_shipped_sqlite_store_lands_in_the_project_root_wherever_the_process_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    monkeypatch.chdir(tmp_path)  # not the project root
    context = _context(REPO / "conf", project, env="test")
    ProjectMlflowStoreHook().after_context_created(context)
    uri = context.config_loader["mlflow"]["server"]["mlflow_tracking_uri"]
    assert uri == f"sqlite:///{project.resolve() / 'mlflow.db'}"


@pytest.mark.parametrize("uri", ["sqlite:////srv/mlflow/store.db", "http://localhost:5000",
                                 "file:///srv/mlruns"])
def test_absolute_and_non_sqlite_stores_are_left_as_given(tmp_path: Path, uri: str) -> None:
    context = _context(_conf_with_store(tmp_path, uri), tmp_path)
    ProjectMlflowStoreHook().after_context_created(context)
    assert context.config_loader["mlflow"]["server"]["mlflow_tracking_uri"] == uri


def test_a_project_without_mlflow_yml_is_left_to_kedro_mlflow(tmp_path: Path) -> None:
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "local").mkdir()
    context = _context(tmp_path / "conf", tmp_path)
    ProjectMlflowStoreHook().after_context_created(context)  # no error
    assert "mlflow" not in context.config_loader  # nothing made up in its place


# --------------------------------------------------------------------------- EffectiveParamsHook


@pytest.fixture
def tracking_store(tmp_path: Path) -> Iterator[Path]:
    """A throwaway sqlite MLflow store, the tracking URI while the test runs."""
    previous = mlflow.get_tracking_uri()
    store = tmp_path / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{store}")
    try:
        yield store
    finally:
        mlflow.set_tracking_uri(previous)


def _reads(inputs: dict[str, object]) -> tuple[Pipeline, DataCatalog]:
    """A one-node pipeline reading `inputs`, and a catalog holding them."""
    node = Node(lambda *args: None, list(inputs), None, name="reads_everything")
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in inputs.items()})
    return Pipeline([node]), catalog


def test_every_arms_typed_blocks_are_logged_key_by_key(tracking_store: Path) -> None:
    # Eight arms' training blocks: several hundred parameters, more than MLflow takes in one
    # request (100); its client splits them, so the hook logs them in one call.
    lrs = {f"arm_{i}": 0.001 * (i + 1) for i in range(8)}
    blocks = {f"params:{arm}.training": training_params({"lr": lr}) for arm, lr in lrs.items()}
    pipeline, catalog = _reads({**blocks, "params:seed": 3, "real_train": [1, 2]})
    # An experiment of this store: an earlier Kedro run in the process leaves its own active.
    experiment = MlflowClient().create_experiment("effective-params")
    with mlflow.start_run(experiment_id=experiment) as run:
        EffectiveParamsHook().before_pipeline_run(pipeline, catalog)
    logged = MlflowClient().get_run(run.info.run_id).data.params
    keys_per_block = {key for key in logged if key.startswith("arm_0.training.")}
    assert len(logged) == len(lrs) * len(keys_per_block) > 100
    assert {key.split(".", 1)[0] for key in logged} == set(lrs)  # no seed, no dataset
    assert {arm: float(logged[f"{arm}.training.lr"]) for arm in lrs} == lrs
    assert logged["arm_3.training.strategy"] == blocks["params:arm_3.training"].strategy
    assert logged["arm_3.training.fast_cnn.widths"] == str(
        blocks["params:arm_3.training"].fast_cnn.widths)  # nested keys are flattened


def test_without_an_active_run_nothing_is_logged(tracking_store: Path) -> None:
    pipeline, catalog = _reads({"params:drop_10.training": training_params()})
    assert mlflow.active_run() is None
    EffectiveParamsHook().before_pipeline_run(pipeline, catalog)
    assert mlflow.active_run() is None  # no run started to log into
    assert not tracking_store.exists()  # no client ever touched the store


# ----------------------------------------------------------------------------- MissingInputsHook


def _identity(x):
    return x


def test_a_saved_input_never_produced_stops_the_run_naming_its_producer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    produce = Pipeline([Node(_identity, "params:seed", "real_train", name="make_real")])
    consume = Pipeline([Node(_identity, "real_train", "classifier", name="train")])
    monkeypatch.setattr(hooks, "pipelines", {"__default__": produce + consume,
                                             "data_processing": produce, "training": consume})
    real_train = JSONDataset(filepath=str(tmp_path / "real_train.json"))
    catalog = DataCatalog({"real_train": real_train, "classifier": MemoryDataset()})
    catalog["params:seed"] = 3
    with pytest.raises(MissingInputError) as raised:
        MissingInputsHook().before_pipeline_run({"env": "test"}, consume, catalog)
    assert raised.value.missing == ["real_train"]
    assert raised.value.command == "kedro run --pipeline data_processing --env test"

    real_train.save([1, 2])
    MissingInputsHook().before_pipeline_run({"env": "test"}, consume, catalog)  # runs now


# ------------------------------------------------------------------------------ StaleOutputsHook


def _versions(project, folder: str) -> int:
    return len(list((project.data / folder).iterdir()))


def test_only_missing_outputs_skips_unchanged_and_reruns_changed(kedro_project) -> None:
    kedro_project.run("data_processing")
    assert _versions(kedro_project, "03_primary/real_train.safetensors") == 1
    stored = json.loads(
        (kedro_project.data / "09_tracking/output_fingerprints.json").read_text())
    assert {"real_train", "real_reserve", "real_test", "class_names"} <= set(stored["outputs"])

    kedro_project.run("data_processing", only_missing_outputs=True)
    assert _versions(kedro_project, "03_primary/real_train.safetensors") == 1

    kedro_project.run("data_processing", params={"data_processing": {"train_per_class": 5}},
                      only_missing_outputs=True)
    assert _versions(kedro_project, "03_primary/real_train.safetensors") == 2
    assert kedro_project.load("real_train")["labels"].numel() == 5 * 4
