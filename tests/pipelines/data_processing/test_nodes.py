"""make_real_splits: stratified, disjoint, deterministic; raw data that does not fit the
parameters fails naming the parameter (bad parameters themselves:
tests/schemas/test_data_processing.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from genaug.common.bundles import BundleError
from genaug.common.validation import ParameterError
from genaug.pipelines.data_processing.nodes import make_real_splits
from genaug.schemas.base import parse
from genaug.schemas.data_processing import DataProcessingParams

NAMES = [f"c{i}" for i in range(5)]


@pytest.fixture
def raw() -> dict[str, Any]:
    """A raw split with 30 distinguishable images per class (pixel 0 encodes the image id)."""
    n = 150
    images = torch.zeros(n, 1, 6, 6, dtype=torch.uint8)
    ids = torch.arange(n)
    images[:, 0, 0, 0] = (ids % 256).to(torch.uint8)
    images[:, 0, 0, 1] = (ids // 256).to(torch.uint8)
    return {"images": images, "labels": ids % 5, "source": "memory://raw"}


@pytest.fixture
def params() -> dict[str, Any]:
    return {"class_names": NAMES, "classes": None, "image_shape": [1, 6, 6],
            "train_per_class": 5, "reserve_per_class": 10, "test_per_class": None}


def _split(raw_train: dict[str, Any], raw_test: dict[str, Any], params: dict[str, Any],
           seed: int) -> tuple:
    """make_real_splits on the validated block, as the pipeline calls it."""
    return make_real_splits(raw_train, raw_test,
                            parse(DataProcessingParams, params, "data_processing"), seed)


def _ids(bundle: dict[str, torch.Tensor]) -> set[int]:
    img = bundle["images"][:, 0, 0].long()
    return set((img[:, 0] + 256 * img[:, 1]).tolist())


def test_stratified_counts(raw, params) -> None:
    train, reserve, test, names = _split(raw, raw, params, seed=1)
    assert names == NAMES
    assert torch.bincount(train["labels"], minlength=5).tolist() == [5] * 5
    assert torch.bincount(reserve["labels"], minlength=5).tolist() == [10] * 5
    assert torch.bincount(test["labels"], minlength=5).tolist() == [30] * 5


def test_train_and_reserve_are_disjoint_and_labels_consistent(raw, params) -> None:
    train, reserve, _, _ = _split(raw, raw, params, seed=1)
    assert not _ids(train) & _ids(reserve)
    for bundle in (train, reserve):
        ids = torch.tensor(sorted(_ids(bundle)))
        assert sorted((ids % 5).tolist()) == sorted(bundle["labels"].tolist())


def test_same_seed_same_bundles_other_seed_differs(raw, params) -> None:
    first = _split(raw, raw, params, seed=3)
    again = _split(raw, raw, params, seed=3)
    other = _split(raw, raw, params, seed=4)
    for a, b in zip(first[:3], again[:3], strict=True):
        assert torch.equal(a["images"], b["images"]) and torch.equal(a["labels"], b["labels"])
    assert _ids(first[0]) != _ids(other[0])


def test_class_subset_remaps_labels_in_given_order(raw, params) -> None:
    params["classes"] = ["c3", "c1"]
    params["test_per_class"] = 4
    train, _, test, names = _split(raw, raw, params, seed=0)
    assert names == ["c3", "c1"]
    assert torch.bincount(train["labels"]).tolist() == [5, 5]
    assert torch.bincount(test["labels"]).tolist() == [4, 4]
    ids = torch.tensor(sorted(_ids(train)))
    assert set((ids % 5).tolist()) == {1, 3}
    first = train["images"][train["labels"] == 0][:, 0, 0].long()
    assert set(((first[:, 0] + 256 * first[:, 1]) % 5).tolist()) == {3}


# Parameters that are valid on their own but do not fit the raw data (5 classes × 30 images).
BAD_FOR_DATA = [
    ("train_per_class", 25, "train_per_class \\+ data_processing.reserve_per_class"),
    ("test_per_class", 31, "data_processing.test_per_class"),
    ("class_names", ["a", "b"], "data_processing.class_names"),
    ("image_shape", [3, 6, 6], "data_processing.image_shape"),
]


@pytest.mark.parametrize(("key", "value", "named"), BAD_FOR_DATA)
def test_parameters_that_do_not_fit_the_data_are_named(raw, params, key, value, named) -> None:
    params[key] = value
    with pytest.raises(ParameterError, match=named):
        _split(raw, raw, params, seed=0)


def test_wrong_image_shape_names_source(raw, params) -> None:
    params["image_shape"] = [1, 28, 28]
    with pytest.raises(ParameterError, match="memory://raw"):
        _split(raw, raw, params, seed=0)


def test_folder_class_names_must_match(raw, params) -> None:
    folder = copy.copy(raw)
    folder["class_names"] = ["x0", "x1", "x2", "x3", "x4"]
    with pytest.raises(ParameterError, match="class folders"):
        _split(folder, raw, params, seed=0)


def test_malformed_raw_bundle(raw, params) -> None:
    broken = dict(raw, images=raw["images"].float())
    with pytest.raises(BundleError, match="uint8"):
        _split(broken, raw, params, seed=0)
