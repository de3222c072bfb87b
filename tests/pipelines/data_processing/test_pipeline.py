"""The data_processing pipeline on the shipped Fashion-MNIST files under conf/test."""

from __future__ import annotations

import torch

from genaug.pipelines.data_processing import create_pipeline


def _latest(project, name):
    return project.load(name)


def test_grouped_under_its_namespace_without_renaming_datasets() -> None:
    (node,) = create_pipeline().nodes
    assert node.name == "data_processing.make_real_splits"
    assert node.inputs == ["raw_train", "raw_test", "params:data_processing", "params:seed"]
    assert node.outputs == ["real_train", "real_reserve", "real_test", "class_names"]


def test_runs_on_shipped_data_and_saves_versioned_bundles(kedro_project) -> None:
    kedro_project.run("data_processing")
    train = _latest(kedro_project, "real_train")
    reserve = _latest(kedro_project, "real_reserve")
    test = _latest(kedro_project, "real_test")
    names = _latest(kedro_project, "class_names")
    assert names == ["T-shirt/top", "Trouser", "Sneaker", "Bag"]
    assert train["images"].shape == (32, 1, 28, 28) and train["images"].dtype == torch.uint8
    assert torch.bincount(train["labels"]).tolist() == [8] * 4
    assert torch.bincount(reserve["labels"]).tolist() == [8] * 4
    assert torch.bincount(test["labels"]).tolist() == [10] * 4
    versions = list((kedro_project.data / "03_primary/real_train.safetensors").iterdir())
    assert len(versions) == 1


def test_same_seed_reproduces_bundles(kedro_project) -> None:
    kedro_project.run("data_processing")
    first = _latest(kedro_project, "real_train")
    kedro_project.run("data_processing")
    second = _latest(kedro_project, "real_train")
    assert torch.equal(first["images"], second["images"])
    kedro_project.run("data_processing", params={"seed": 7})
    third = _latest(kedro_project, "real_train")
    assert not torch.equal(first["images"], third["images"])
