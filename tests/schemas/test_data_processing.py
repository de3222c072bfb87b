"""DataProcessingParams: the shipped blocks parse; every bad value fails naming its dotted key."""

from __future__ import annotations

from typing import Any

import pytest
from kedro.config import OmegaConfigLoader

from genaug.common.validation import ParameterError
from genaug.schemas.base import parse
from genaug.schemas.data_processing import DataProcessingParams
from tests.support import REPO, conf_params

NAMES = [f"c{i}" for i in range(5)]


@pytest.fixture
def params() -> dict[str, Any]:
    return {"class_names": NAMES, "classes": None, "image_shape": [1, 6, 6],
            "train_per_class": 5, "reserve_per_class": 10, "test_per_class": None}


def _parse(params: dict[str, Any]) -> DataProcessingParams:
    return parse(DataProcessingParams, params, "data_processing")


def test_base_block_parses() -> None:
    parsed = _parse(conf_params("data_processing", "base"))
    assert parsed.image_shape_tuple() == (1, 28, 28)
    assert parsed.selected_classes == parsed.class_names and len(parsed.class_names) == 10
    assert parsed.selected_ids == list(range(10)) and parsed.test_per_class is None


def test_test_environment_block_parses() -> None:
    # The merge settings.py configures (conf/test overrides single keys of conf/base).
    loader = OmegaConfigLoader(conf_source=str(REPO / "conf"), env="test", base_env="base",
                               merge_strategy={"parameters": "soft"})
    parsed = _parse(loader["parameters"]["data_processing"])
    assert parsed.selected_classes == ["T-shirt/top", "Trouser", "Sneaker", "Bag"]
    assert parsed.selected_ids == [0, 1, 7, 8]
    assert (parsed.train_per_class, parsed.reserve_per_class, parsed.test_per_class) == (8, 8, 10)


def test_defaults_and_selection(params) -> None:
    del params["classes"], params["test_per_class"]
    parsed = _parse(params)
    assert parsed.classes is None and parsed.test_per_class is None
    assert parsed.selected_classes == NAMES
    params["classes"] = ["c3", "c1"]
    assert _parse(params).selected_ids == [3, 1]
    params["classes"] = []  # like null: every class
    assert _parse(params).selected_classes == NAMES
    params["image_shape"] = (3, 32, 32)
    assert _parse(params).image_shape_tuple() == (3, 32, 32)


BAD = [
    ("train_per_class", 0),
    ("train_per_class", 2.5),
    ("train_per_class", "many"),
    ("train_per_class", True),
    ("train_per_class", None),
    ("reserve_per_class", -1),
    ("test_per_class", 0),
    ("classes", ["c1", "nope"]),
    ("classes", ["c1"]),
    ("classes", ["c1", "c1"]),
    ("classes", "c1"),
    ("class_names", ["a"]),
    ("class_names", ["a", "a", "b", "c", "d"]),
    ("class_names", ["a", ""]),
    ("class_names", "abc"),
    ("image_shape", [2, 6, 6]),
    ("image_shape", [1, 6]),
    ("image_shape", [1, 0, 6]),
    ("image_shape", [1, 6.0, 6]),
    ("image_shape", [True, 6, 6]),
    ("image_shape", "1x6x6"),
]


@pytest.mark.parametrize(("key", "value"), BAD)
def test_bad_parameters_are_named(params, key, value) -> None:
    params[key] = value
    with pytest.raises(ParameterError, match=rf"'data_processing\.{key}'"):
        _parse(params)


@pytest.mark.parametrize("key", ["class_names", "image_shape", "train_per_class",
                                 "reserve_per_class"])
def test_required_keys(params, key) -> None:
    del params[key]
    with pytest.raises(ParameterError, match=rf"'data_processing\.{key}'.*missing"):
        _parse(params)


def test_unknown_key_suggests_the_closest(params) -> None:
    params["train_per_clas"] = 3
    with pytest.raises(ParameterError, match="did you mean `train_per_class`"):
        _parse(params)


def test_unknown_class_names_the_valid_ones(params) -> None:
    params["classes"] = ["c1", "nope"]
    with pytest.raises(ParameterError, match=r"names from data_processing\.class_names") as err:
        _parse(params)
    assert err.value.got == ["nope"]
