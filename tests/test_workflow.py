"""The workflow around a run: environments that never touch each other's outputs, the results
notebook whatever has run, and input errors stopped before the first node."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner

from genaug.cli import cli
from genaug.pipelines.ablations import create_pipelines
from genaug.preflight import MissingInputError, producing_command
from tests.support import (
    KedroProject,
    declared,
    execute_results_notebook,
    make_project,
    notebook_errors,
    notebook_images,
    notebook_text,
)

TEST_ROOT = Path("data") / "test"


# Shared by every environment by design: the MLflow store's per-experiment artifact folders
# (experiments are compared through the client below) and kedro-viz's stats of the last run.
SHARED = (Path("mlruns"), Path("mlartifacts"), Path(".viz"))


def _snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of every file in the project except the test root, the shared MLflow store and
    kedro-viz stats, and the linked raw data (os.walk does not follow the data/01_raw link)."""
    files = {}
    for folder, dirs, names in os.walk(root):
        here = Path(folder).relative_to(root)
        dirs[:] = [d for d in dirs if here / d not in (TEST_ROOT, *SHARED)]
        for name in names:
            if here == Path(".") and name.startswith("mlflow.db"):
                continue
            files[str(here / name)] = hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest()
    return files


def _experiment_runs(root: Path, name: str) -> set[str]:
    """Ids of the runs in an MLflow experiment of the project's store."""
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return set()
    return {run.info.run_id for run in client.search_runs([experiment.experiment_id])}


@dataclass
class TwoEnvironments:
    """A project holding base outputs, after an `ablation_threshold` run on conf/test."""

    test: KedroProject
    base: KedroProject
    base_files: dict[str, str]
    base_runs: set[str]


@pytest.fixture(scope="module")
def two_envs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoEnvironments]:
    """`data_processing` on conf/base, then `ablation_threshold` on conf/test, in one copy."""
    with pytest.MonkeyPatch.context() as patch:
        test = make_project(tmp_path_factory.mktemp("envs") / "project")
        patch.chdir(test.root)
        base = KedroProject(test.root, env="base")
        base.run("data_processing")
        base_files, base_runs = _snapshot(test.root), _experiment_runs(test.root, "genaug")
        test.run("ablation_threshold")
        yield TwoEnvironments(test, base, base_files, base_runs)


def test_test_env_run_leaves_every_base_file_byte_identical(two_envs: TwoEnvironments) -> None:
    saved = [name for name in two_envs.base_files if name.startswith("data/03_primary/")]
    assert len(saved) == 4  # real_train, real_reserve, real_test, class_names: one version each
    assert "data/09_tracking/output_fingerprints.json" in two_envs.base_files
    assert _snapshot(two_envs.test.root) == two_envs.base_files
    assert two_envs.base.load("real_train")["labels"].numel() == 10 * 100  # conf/base sizes


def test_test_env_outputs_land_under_its_own_root(two_envs: TwoEnvironments) -> None:
    root = two_envs.test.root / TEST_ROOT
    assert (root / "08_reporting/threshold/results.csv").is_file()
    assert len(list((root / "03_primary/real_train.safetensors").iterdir())) == 1
    assert len(list((root / "06_models/generator.safetensors").iterdir())) == 1
    assert two_envs.test.load("real_train")["labels"].numel() == 4 * 8  # conf/test sizes
    store = (root / "09_tracking/output_fingerprints.json").read_text()
    assert '"generator"' in store and '"drop_30.metrics"' in store


def test_each_env_logs_to_its_own_mlflow_experiment(two_envs: TwoEnvironments) -> None:
    root = two_envs.test.root
    assert len(two_envs.base_runs) == 1  # the base data_processing run
    assert _experiment_runs(root, "genaug") == two_envs.base_runs
    assert _experiment_runs(root, "genaug-test")
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    locations = {client.get_experiment_by_name(name).artifact_location
                 for name in ("genaug", "genaug-test")}
    assert len(locations) == 2  # artifacts of the two environments never share a folder


def test_plan_reads_the_environments_own_outputs_and_fingerprints(
        two_envs: TwoEnvironments) -> None:
    runner = CliRunner()
    test_plan = runner.invoke(cli, ["plan", "--pipeline", "synthesis", "--env", "test"])
    base_plan = runner.invoke(cli, ["plan", "--pipeline", "synthesis", "--env", "base"])
    assert test_plan.exit_code == 0 and base_plan.exit_code == 0, test_plan.output
    assert "reuse generator (version" in test_plan.output  # conf/test's generator, up to date
    assert "run   synthesis.train_generator" not in test_plan.output
    assert "generator has no saved version" in base_plan.output  # base never trained one


def test_notebook_after_only_the_threshold_ablation_shows_it_and_names_the_other_command(
        two_envs: TwoEnvironments) -> None:
    notebook = execute_results_notebook(two_envs.test.root, env="test")
    assert notebook_errors(notebook) == []
    text = notebook_text(notebook)
    assert "| drop_30 " in text  # the threshold table
    assert "`kedro run --pipeline ablation_training --env test` produces them" in text
    assert "ablation_threshold --env test" not in text  # its results exist: no note
    # the threshold plot, its exchange-rate plot, per-class Top-1
    assert len(notebook_images(notebook)) == 3


def test_notebook_on_an_environment_without_results_names_the_commands(
        two_envs: TwoEnvironments) -> None:
    notebook = execute_results_notebook(two_envs.test.root, env="base")
    assert notebook_errors(notebook) == []
    text = notebook_text(notebook)
    assert "`kedro run --pipeline ablation_threshold --env base` produces them" in text
    assert "`kedro run --pipeline ablation_training --env base` produces them" in text
    assert "| drop_30 " not in text  # the test environment's table is not shown
    assert notebook_images(notebook) == []


def test_missing_upstream_fails_before_the_first_node_naming_its_producer(
        kedro_project: KedroProject) -> None:
    message = ("class_names, real_train have no saved version: "
               "run `kedro run --pipeline data_processing --env test` first.")
    with pytest.raises(MissingInputError) as raised:
        kedro_project.run("synthesis")
    assert str(raised.value) == message
    assert not (kedro_project.root / TEST_ROOT).exists()  # nothing ran, nothing was written
    assert _experiment_runs(kedro_project.root, "genaug-test") == set()


@pytest.mark.parametrize(("missing", "env", "command"), [
    (["real_train"], None, "kedro run --pipeline data_processing"),
    (["synthetic_scores"], "test", "kedro run --pipeline filtering --env test"),
    (["drop_20.metrics", "sequential.metrics", "real_curve_3.extra_real"], None,
     "kedro run --pipeline ablation_training"),
    (["baseline.metrics", "drop_10.metrics"], None, "kedro run --pipeline ablation_threshold"),
    # two ablations' arms: their two pipelines (__default__ also holds the quality grid)
    (["baseline.metrics", "drop_10.metrics", "sequential.metrics"], "gpu",
     "kedro run --pipelines ablation_threshold,ablation_training --env gpu"),
    (["drop_10.metrics", "sequential.metrics",
      "quality__guidance_scale_1p0__drop_fraction_0p0.metrics"], "gpu", "kedro run --env gpu"),
    (["real_train", "generator"], None, "kedro run --pipelines data_processing,synthesis"),
    (["raw_train"], None, None),
])
def test_producing_command_is_the_smallest_registered_pipeline(
        missing: list[str], env: str | None, command: str | None) -> None:
    assert producing_command(missing, create_pipelines(declared()), env) == command
