"""EvaluationParams: every bad value fails naming its dotted key; the project's conf/base and
conf/test blocks parse; optional keys keep their documented defaults."""

from __future__ import annotations

import re
from typing import Any

import pytest

from genaug.common.validation import ParameterError
from genaug.schemas.base import deep_merge, parse
from genaug.schemas.evaluation import EvaluationParams
from tests.support import conf_params


def _evaluation(over: dict[str, Any]) -> EvaluationParams:
    return parse(EvaluationParams, deep_merge(conf_params("evaluation", "base"), over),
                 "evaluation")


@pytest.mark.parametrize("env", ["base", "test"])
def test_project_blocks_parse(env):
    # the evaluator leaves a few keys at their defaults
    evaluation = conf_params("evaluation", env)
    parsed = parse(EvaluationParams, evaluation, "evaluation").to_dict()
    assert deep_merge(parsed, evaluation) == parsed
    assert {k: parsed["evaluator"][k] for k in ("momentum", "lr_step_epochs", "lr_gamma")} == {
        "momentum": 0.9, "lr_step_epochs": 10, "lr_gamma": 0.1}


def test_optional_keys_keep_their_defaults():
    evaluator = {"architecture": "fast_cnn", "epochs": 3, "batch_size": 8, "optimizer": "sgd",
                 "lr": 1, "lr_schedule": "step"}
    evaluation = parse(EvaluationParams, {"batch_size": 4, "feature_extractor": "auto",
                                          "evaluator": evaluator}, "evaluation")
    assert (evaluation.inception_weights_path, evaluation.fid_reference,
            evaluation.max_fid_images, evaluation.is_splits, evaluation.compute_fid,
            evaluation.evaluator.min_test_accuracy) == (None, "real_test", None, 10, True, None)


EVALUATION_CASES: list[tuple[dict[str, Any], str]] = [
    ({"feature_extractor": "clip"}, "evaluation.feature_extractor"),
    ({"fid_reference": "real_val"}, "evaluation.fid_reference"),
    ({"batch_size": 0}, "evaluation.batch_size"),
    ({"max_fid_images": 1}, "evaluation.max_fid_images"),
    ({"max_fid_images": 2.5}, "evaluation.max_fid_images"),
    ({"is_splits": 0}, "evaluation.is_splits"),
    ({"compute_fid": "yes"}, "evaluation.compute_fid"),
    ({"inception_weights_path": 3}, "evaluation.inception_weights_path"),
    ({"evaluator": None}, "evaluation.evaluator"),
    ({"evaluator": {"architecture": "vit"}}, "evaluation.evaluator.architecture"),
    ({"evaluator": {"epochs": 0}}, "evaluation.evaluator.epochs"),
    ({"evaluator": {"augment": {"per_sample": 1}}}, "evaluation.evaluator.augment.per_sample"),
    ({"evaluator": {"min_test_accuracy": "high"}}, "evaluation.evaluator.min_test_accuracy"),
    ({"evaluator": {"strategy": "joint"}}, "evaluation.evaluator.strategy"),
    ({"fid_refrence": "real_test"}, "evaluation.fid_refrence"),
]


@pytest.mark.parametrize(("over", "key"), EVALUATION_CASES,
                         ids=[f"{k}-{i}" for i, (_, k) in enumerate(EVALUATION_CASES)])
def test_bad_evaluation_params_name_the_key(over, key):
    with pytest.raises(ParameterError, match=rf"Parameter '{re.escape(key)}'"):
        _evaluation(over)


def test_evaluator_is_required():
    raw = {k: v for k, v in conf_params("evaluation", "base").items() if k != "evaluator"}
    with pytest.raises(ParameterError, match=r"Parameter 'evaluation\.evaluator'.*missing"):
        parse(EvaluationParams, raw, "evaluation")


def test_evaluator_normalize_must_fit_the_image_channels():
    rgb = {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.2]}
    evaluation = _evaluation({"evaluator": {"normalize": rgb}})
    evaluation.check_image_shape((3, 32, 32))
    with pytest.raises(ParameterError, match=r"Parameter 'evaluator\.normalize\.mean'"):
        evaluation.check_image_shape((1, 28, 28))


def test_only_the_evaluators_speed_and_logging_keys_are_marked_as_not_affecting_results():
    def not_affecting(schema):
        return {name for name, field in schema.model_fields.items()
                if (field.json_schema_extra or {}).get("affects_results") is False}

    assert not_affecting(EvaluationParams) == set()
    assert not_affecting(EvaluationParams.model_fields["evaluator"].annotation) == {
        "eval_batch_size", "min_test_accuracy"}
