"""Your own data and weights: conf/local read on top of every preset, raw data and external
files checked before the first node, and the run's `auto` choices recorded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.io.core import DatasetError
from mlflow.tracking import MlflowClient

from genaug.common.validation import ParameterError
from genaug.config import ValidatingConfigLoader
from genaug.settings import CONFIG_LOADER_ARGS
from tests.support import REPO


def _conf(tmp_path: Path, local: dict[str, dict]) -> Path:
    """A copy of conf/ whose conf/local holds the given files ({file name: YAML mapping})."""
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    for name, content in local.items():
        (conf / "local" / name).write_text(yaml.safe_dump(content))
    return conf


def _loader(conf: Path, env: str | None) -> ValidatingConfigLoader:
    return ValidatingConfigLoader(str(conf), env=env, **CONFIG_LOADER_ARGS)


LOCAL_CATALOG = {"raw_train": {"type": "genaug.datasets.ImageFolderDataset",
                               "path": "${globals:data_root}/../my_images/train",
                               "image_size": 32}}


@pytest.mark.parametrize("env", [None, "gpu"])
def test_conf_local_is_read_on_top_of_every_preset(tmp_path: Path, env: str | None) -> None:
    conf = _conf(tmp_path, {"catalog.yml": LOCAL_CATALOG,
                            "parameters.yml": {"training": {"epochs": 3}}})
    loader = _loader(conf, env)
    root = loader["globals"]["data_root"]
    assert root == ("data/gpu" if env == "gpu" else "data")  # the preset keeps its own outputs
    assert loader["catalog"]["raw_train"]["path"] == f"{root}/../my_images/train"
    assert loader["catalog"]["raw_test"]["type"] == "genaug.datasets.IDXImageDataset"
    params = loader["parameters"]
    assert params["training"].epochs == 3
    # a deep merge: the preset's other keys in the same block stay
    expected_batch = 128 if env == "gpu" else _loader(_conf(tmp_path / "plain", {}), None)[
        "parameters"]["training"].batch_size
    assert params["training"].batch_size == expected_batch


def test_the_test_fixture_never_reads_conf_local(tmp_path: Path) -> None:
    conf = _conf(tmp_path, {"parameters.yml": {"training": {"epochs": 99}}})
    assert _loader(conf, "test")["parameters"]["training"].epochs != 99


def test_a_bad_key_in_conf_local_fails_naming_it_under_the_preset(tmp_path: Path) -> None:
    conf = _conf(tmp_path, {"parameters.yml": {"training": {"epoch": 3}}})
    with pytest.raises(ParameterError, match=r"training\.epoch"):
        _ = _loader(conf, "gpu")["parameters"]


def test_missing_inception_weights_fail_when_parameters_are_read(tmp_path: Path) -> None:
    conf = _conf(tmp_path, {"parameters.yml": {"evaluation": {
        "feature_extractor": "auto", "inception_weights_path": str(tmp_path / "nope.pth")}}})
    with pytest.raises(ParameterError, match=r"evaluation\.inception_weights_path"):
        _ = _loader(conf, "gpu")["parameters"]


def test_raw_images_of_another_shape_fail_before_the_first_node(kedro_project) -> None:
    with pytest.raises(ParameterError, match=r"data_processing\.image_shape.*raw_t"):
        kedro_project.run("data_processing",
                          params={"data_processing": {"image_shape": [1, 32, 32]}})
    assert not any((kedro_project.data / "03_primary").glob("*/*"))


def test_a_missing_raw_file_fails_before_the_first_node_naming_it(kedro_project) -> None:
    catalog = {"raw_test": {"type": "genaug.datasets.IDXImageDataset",
                            "images_filepath": "data/01_raw/nowhere-images.gz",
                            "labels_filepath": "data/01_raw/nowhere-labels.gz"}}
    (kedro_project.root / "conf" / "test" / "catalog.yml").write_text(yaml.safe_dump(catalog))
    with pytest.raises(DatasetError, match="nowhere-images.gz"):
        kedro_project.run("data_processing")
    assert not any((kedro_project.data / "03_primary").glob("*/*"))


def test_the_runs_auto_choices_are_tagged_on_its_mlflow_run(kedro_project) -> None:
    kedro_project.run("data_processing")
    with KedroSession.create(project_path=kedro_project.root, env="test") as session:
        config = session.load_context().mlflow
    client = MlflowClient(config.server.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(config.tracking.experiment.name)
    (run,) = client.search_runs([experiment.experiment_id])
    tags = run.data.tags
    assert tags["resolved/device"] == "cpu"
    assert tags["resolved/training.precision"] in ("bf16", "fp32")
    assert tags["resolved/evaluation.feature_extractor"] == "evaluator-cnn"
