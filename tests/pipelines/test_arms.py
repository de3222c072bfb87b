"""arm_pipeline: one template per namespace, shared inputs kept, arm named in errors."""

from __future__ import annotations

from typing import Any

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from genaug.common.params import merge_params
from genaug.common.validation import ParameterError, check_float
from genaug.pipelines.arms import ArmError, arm_pipeline


def _scale(real_train: list[int], defaults: dict, overrides: dict, seed: int) -> list[float]:
    params = merge_params(defaults, overrides)
    factor = check_float(params["factor"], "training.factor", low=0)
    if not real_train:
        raise ValueError("real_train is empty")
    return [x * factor + seed for x in real_train]


def _template() -> Pipeline:
    return Pipeline([Node(_scale, ["real_train", "params:training", "params:training_overrides",
                                   "params:seed"], "classifier", name="scale")])


def _catalog(arms: dict[str, Any], real: list[int]) -> DataCatalog:
    catalog = DataCatalog({"real_train": MemoryDataset(real)})
    catalog["params:training"] = {"factor": 2.0, "other": {"a": 1}}
    catalog["params:seed"] = 1
    for arm, block in arms.items():
        catalog[f"params:{arm}.training"] = block
    return catalog


def test_two_arms_share_inputs_and_differ_by_overrides() -> None:
    pipe = arm_pipeline(_template(), "a") + arm_pipeline(_template(), "b")
    assert pipe.inputs() == {"real_train", "params:training", "params:seed",
                             "params:a.training", "params:b.training"}
    catalog = _catalog({"a": {}, "b": {"factor": 10}}, [1, 2])
    SequentialRunner().run(pipe, catalog)
    assert catalog.load("a.classifier") == [3.0, 5.0]
    assert catalog.load("b.classifier") == [11.0, 21.0]


def test_parameter_errors_name_the_arm() -> None:
    pipe = arm_pipeline(_template(), "drop_10")
    catalog = _catalog({"drop_10": {"factor": -1}}, [1])
    with pytest.raises(ParameterError, match=r"'drop_10\.training\.factor'"):
        SequentialRunner().run(pipe, catalog)


def test_other_input_errors_name_the_arm() -> None:
    pipe = arm_pipeline(_template(), "joint")
    with pytest.raises(ArmError, match="Arm 'joint': real_train is empty"):
        SequentialRunner().run(pipe, _catalog({"joint": {}}, []))


def test_merge_params_is_deep_and_does_not_mutate() -> None:
    defaults = {"a": 1, "b": {"c": 2, "d": 3}}
    merged = merge_params(defaults, {"b": {"c": 5}, "e": 6})
    assert merged == {"a": 1, "b": {"c": 5, "d": 3}, "e": 6}
    assert defaults == {"a": 1, "b": {"c": 2, "d": 3}}
