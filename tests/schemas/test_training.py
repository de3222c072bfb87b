"""TrainingParams: every bad value fails naming its dotted key; the project's conf/base and
conf/test blocks parse; optional keys keep their documented defaults."""

from __future__ import annotations

import re
from typing import Any

import pytest

from genaug.common.validation import ParameterError
from genaug.schemas.base import deep_merge, parse
from genaug.schemas.training import TrainingParams
from tests.support import conf_params


def _training(over: dict[str, Any]) -> TrainingParams:
    return parse(TrainingParams, deep_merge(conf_params("training", "base"), over), "training")


@pytest.mark.parametrize("env", ["base", "test"])
def test_project_blocks_parse(env):
    # training writes out every key (seeds as a count N: seeds 0..N-1)
    training = conf_params("training", env)
    count = training["seeds"]
    assert parse(TrainingParams, training, "training").to_dict() == {
        **training, "seeds": list(range(count)) if isinstance(count, int) else count}


def test_test_env_phases_inherit_the_top_level_lr():
    params = TrainingParams.model_validate(conf_params("training"))
    assert (params.pretrain.epochs, params.pretrain.lr) == (1, 0.002)
    assert (params.finetune.epochs, params.finetune.lr) == (1, 0.001)


def test_optional_keys_keep_their_defaults():
    minimal = {"architecture": "fast_cnn", "epochs": 3, "batch_size": 8, "optimizer": "sgd",
               "lr": 1, "lr_schedule": "step", "strategy": "joint", "seeds": [0]}
    params = parse(TrainingParams, minimal, "training")
    assert params.to_dict() == {
        **minimal, "lr": 1.0,
        "fast_cnn": {"widths": [32, 64, 128], "dropout": 0.2, "convs_per_stage": 1},
        "normalize": {"mean": None, "std": None}, "momentum": 0.9,
        "weight_decay": 0.0, "lr_step_epochs": 10, "lr_gamma": 0.1, "label_smoothing": 0.0,
        "augment": {"random_crop": False, "crop_padding": 2, "horizontal_flip": False,
                    "per_sample": True},
        "precision": "auto", "channels_last": True, "compile": False,
        "num_threads": None, "mix": "ratio", "synthetic_fraction": 0.5, "epoch_basis": "real",
        "extra_real_per_class": None,
        "pretrain": {"epochs": 3, "lr": 1.0}, "finetune": {"epochs": 3, "lr": 1.0}}
    assert isinstance(params.lr, float) and isinstance(params.pretrain.lr, float)


def test_seeds_as_a_count_mean_seeds_zero_to_n_minus_one():
    assert _training({"seeds": 5}).seeds == [0, 1, 2, 3, 4]
    assert _training({"seeds": [4, 2]}).seeds == [4, 2]  # a list is kept as given


def test_null_sub_blocks_mean_defaults():
    params = _training({"fast_cnn": None, "augment": None, "normalize": None, "pretrain": None})
    assert params.fast_cnn.convs_per_stage == 1 and params.fast_cnn.widths == [32, 64, 128]
    assert not params.augment.random_crop and params.normalize.stats() is None
    assert (params.pretrain.epochs, params.pretrain.lr) == (params.epochs, params.lr)


def test_normalize_stats_are_floats():
    params = _training({"normalize": {"mean": [0, 0.5], "std": [1, 0.25]}})
    assert params.normalize.stats() == ([0.0, 0.5], [1.0, 0.25])
    assert all(isinstance(v, float) for v in params.normalize.stats()[0])


TRAINING_CASES: list[tuple[dict[str, Any], str]] = [
    ({"architecture": "vgg"}, "training.architecture"),
    ({"strategy": "mixup"}, "training.strategy"),
    ({"strategy": None}, "training.strategy"),
    ({"synthetic_fraction": 1.5}, "training.synthetic_fraction"),
    ({"synthetic_fraction": -0.1}, "training.synthetic_fraction"),
    ({"optimizer": "lamb"}, "training.optimizer"),
    ({"lr_schedule": "poly"}, "training.lr_schedule"),
    ({"mix": "interleave"}, "training.mix"),
    ({"epoch_basis": "all"}, "training.epoch_basis"),
    ({"seeds": []}, "training.seeds"),
    ({"seeds": [1, 1]}, "training.seeds"),
    ({"seeds": [-1]}, "training.seeds"),
    ({"seeds": 0}, "training.seeds"),
    ({"seeds": True}, "training.seeds"),
    ({"precision": "fp16"}, "training.precision"),
    ({"epochs": -1}, "training.epochs"),
    ({"epochs": 0}, "training.epochs"),
    ({"epochs": 2.0}, "training.epochs"),
    ({"epochs": True}, "training.epochs"),
    ({"batch_size": 0}, "training.batch_size"),
    ({"eval_batch_size": 0}, "training.eval_batch_size"),  # unknown key now
    ({"lr": 0}, "training.lr"),
    ({"lr": "fast"}, "training.lr"),
    ({"momentum": 1.0}, "training.momentum"),
    ({"weight_decay": -0.1}, "training.weight_decay"),
    ({"lr_step_epochs": 0}, "training.lr_step_epochs"),
    ({"lr_gamma": 0.0}, "training.lr_gamma"),
    ({"lr_gamma": 1.5}, "training.lr_gamma"),
    ({"label_smoothing": 1.0}, "training.label_smoothing"),
    ({"num_threads": 0}, "training.num_threads"),
    ({"pretrain": {"lr": 0}}, "training.pretrain.lr"),
    ({"finetune": {"epochs": -1}}, "training.finetune.epochs"),
    ({"pretrain": 3}, "training.pretrain"),
    ({"fast_cnn": {"widths": []}}, "training.fast_cnn.widths"),
    ({"fast_cnn": {"widths": [8, 0]}}, "training.fast_cnn.widths"),
    ({"fast_cnn": {"dropout": 1.0}}, "training.fast_cnn.dropout"),
    ({"fast_cnn": {"convs_per_stage": 0}}, "training.fast_cnn.convs_per_stage"),
    ({"augment": {"random_crop": "yes"}}, "training.augment.random_crop"),
    ({"augment": {"crop_padding": -1}}, "training.augment.crop_padding"),
    ({"augment": [1]}, "training.augment"),
    ({"normalize": {"mean": [0.5], "std": None}}, "training.normalize.std"),
    ({"normalize": {"mean": None, "std": [0.5]}}, "training.normalize.mean"),
    ({"normalize": {"mean": [0.5], "std": [0.0]}}, "training.normalize.std"),
    ({"normalize": {"mean": [], "std": []}}, "training.normalize.mean"),
    ({"normalize": {"mean": [True], "std": [1]}}, "training.normalize.mean"),
    ({"epochz": 5}, "training.epochz"),
    ({"fast_cnn": {"width": [8]}}, "training.fast_cnn.width"),
]


@pytest.mark.parametrize(("over", "key"), TRAINING_CASES,
                         ids=[f"{k}-{i}" for i, (_, k) in enumerate(TRAINING_CASES)])
def test_bad_training_params_name_the_key(over, key):
    with pytest.raises(ParameterError, match=rf"Parameter '{re.escape(key)}'"):
        _training(over)


def test_unknown_keys_suggest_the_closest():
    with pytest.raises(ParameterError, match="did you mean `epochs`"):
        _training({"epochz": 5})
    with pytest.raises(ParameterError, match="did you mean `dropout`"):
        _training({"fast_cnn": {"dropuot": 0.1}})


@pytest.mark.parametrize("key", ["architecture", "epochs", "batch_size", "optimizer", "lr",
                                 "lr_schedule", "strategy", "seeds"])
def test_required_training_keys(key):
    raw = {k: v for k, v in conf_params("training", "base").items() if k != key}
    with pytest.raises(ParameterError, match=rf"Parameter 'training\.{key}'.*missing"):
        parse(TrainingParams, raw, "training")


def test_normalize_must_fit_the_image_channels():
    rgb = {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.2]}
    params = _training({"normalize": rgb})
    params.check_image_shape((3, 32, 32))
    _training({"normalize": {"mean": [0.5], "std": [0.2]}}).check_image_shape((3, 32, 32))
    with pytest.raises(ParameterError, match=r"Parameter 'normalize\.mean'.*1 or 1 numbers"):
        params.check_image_shape((1, 28, 28))


def test_no_training_key_is_marked_as_not_affecting_results():
    assert not {name for name, field in TrainingParams.model_fields.items()
                if (field.json_schema_extra or {}).get("affects_results") is False}
