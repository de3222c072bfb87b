"""The documented user-data path, end to end on CPU: the gpu preset (`--env gpu`) with conf/local
holding a tiny CIFAR-10-format folder and tiny sizes runs the threshold ablation on that data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kedro.framework.session import KedroSession
from mlflow.tracking import MlflowClient

from genaug.schemas.base import deep_merge

from .cifar_format import write_cifar10_folder

CLASSES = ["airplane", "automobile", "bird", "cat"]


def _tiny_overrides(repo_conf: Path) -> dict[str, Any]:
    """conf/test's parameter files merged into one mapping: the preset's tiny overrides."""
    merged: dict[str, Any] = {}
    for file in sorted((repo_conf / "test").glob("parameters*.yml")):
        merged = deep_merge(merged, yaml.safe_load(file.read_text()))
    return merged


@pytest.fixture
def gpu_on_cifar(kedro_project, tmp_path: Path):
    """The project copy with conf/local: a CIFAR-10 folder catalog and tiny parameters."""
    sums = write_cifar10_folder(tmp_path / "cifar", CLASSES, train_per_class=20,
                                test_per_class=12)
    local = kedro_project.root / "conf" / "local"
    catalog = {f"raw_{split}": {"type": "genaug.datasets.CIFARDataset", "name": "CIFAR10",
                                "root": str(tmp_path / "cifar"), "split": split,
                                "checksums": sums} for split in ("train", "test")}
    (local / "catalog.yml").write_text(yaml.safe_dump(catalog))
    params = deep_merge(_tiny_overrides(kedro_project.root / "conf"), {"data_processing": {
        "class_names": CLASSES, "classes": None, "image_shape": [3, 32, 32]}})
    (local / "parameters.yml").write_text(yaml.safe_dump(params))
    kedro_project.env = "gpu"
    return kedro_project


@pytest.mark.slow
def test_the_gpu_preset_runs_on_a_cifar_folder_given_in_conf_local(gpu_on_cifar) -> None:
    project = gpu_on_cifar
    project.run("ablation_threshold")
    assert project.data == project.root / "data" / "gpu"
    real_train = project.load("real_train")
    assert tuple(real_train["images"].shape[1:]) == (3, 32, 32)
    assert project.load("class_names") == CLASSES
    assert project.load("synthetic_pool")["images"].shape[1:] == (3, 32, 32)
    assert (project.data / "08_reporting").is_dir()
    with KedroSession.create(project_path=project.root, env="gpu") as session:
        config = session.load_context().mlflow
    client = MlflowClient(config.server.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("genaug-gpu")
    runs = client.search_runs([experiment.experiment_id])
    parent = next(run for run in runs if "mlflow.parentRunId" not in run.data.tags)
    assert parent.data.params["baseline.training.architecture"] == "resnet18"  # the preset's


def test_the_gpu_preset_reads_the_cifar_folder_given_in_conf_local(gpu_on_cifar) -> None:
    gpu_on_cifar.run("data_processing")
    real_train = gpu_on_cifar.load("real_train")
    assert tuple(real_train["images"].shape[1:]) == (3, 32, 32)
    assert gpu_on_cifar.load("class_names") == CLASSES
    assert (gpu_on_cifar.root / "data" / "gpu" / "03_primary").is_dir()


def test_the_gpu_preset_fails_before_any_node_when_conf_local_shape_is_wrong(
        gpu_on_cifar) -> None:
    from genaug.common.validation import ParameterError

    local = gpu_on_cifar.root / "conf" / "local" / "parameters.yml"
    params = yaml.safe_load(local.read_text())
    params["data_processing"]["image_shape"] = [1, 32, 32]
    local.write_text(yaml.safe_dump(params))
    with pytest.raises(ParameterError, match=r"data_processing\.image_shape.*\[3, 32, 32\]"):
        gpu_on_cifar.run("ablation_threshold")
    assert not (gpu_on_cifar.root / "data" / "gpu" / "03_primary").exists() or not any(
        (gpu_on_cifar.root / "data" / "gpu" / "03_primary").rglob("*.safetensors"))
