"""The `synthesis` parameter schema: today's presets parse, each bad value names its key."""

from __future__ import annotations

from typing import Any, get_args

import pytest
import yaml

from genaug.common.validation import ParameterError
from genaug.models import diffusion as D
from genaug.models.diffusion_objectives import build_objective
from genaug.models.diffusion_pretrained import DTYPES
from genaug.schemas.base import deep_merge, parse
from genaug.schemas.synthesis import PretrainedDtype, SchedulerName, SynthesisParams
from tests.support import REPO, conf_params, synthesis_params, with_changes

BASE = conf_params("synthesis", "base")
# conf/gpu keeps every override in one parameters.yml
GPU = yaml.safe_load((REPO / "conf/gpu/parameters.yml").read_text())["synthesis"]


def _with(**changes: Any) -> dict[str, Any]:
    """conf/base's block with dotted keys replaced (a value of ... deletes the key)."""
    return with_changes(BASE, **changes)


def _objective(**train: Any) -> SynthesisParams:
    """conf/test's block (merged over conf/base) with train keys (and `scheduler`) replaced;
    the objective is plain DDPM epsilon unless `train` names another."""
    scheduler = train.pop("scheduler", None)
    over: dict[str, Any] = {"train": {"prediction": "epsilon", "snr_gamma": None, **train}}
    if scheduler is not None:
        over["sampling"] = {"scheduler": scheduler}
    return parse(SynthesisParams, deep_merge(conf_params("synthesis"), over), "synthesis")


@pytest.mark.parametrize("env", ["base", "test", "gpu"])
def test_presets_parse_and_fit_28x28(env):
    """conf/base, and conf/test and conf/gpu merged over it, are valid for 1×28×28 images."""
    block = {"base": BASE, "test": conf_params("synthesis"), "gpu": deep_merge(BASE, GPU)}[env]
    params = parse(SynthesisParams, block, "synthesis")
    params.check_image_shape((1, 28, 28))
    assert params.unet_sample_size(28, 28) == 28


def test_optional_keys_get_todays_defaults():
    """Keys read with a default today keep that default."""
    raw = _with(**{"num_threads": ..., "grid": ..., "model.sample_size": ...,
                   "model.attention": ..., "train.hflip": ..., "train.log_every": ...,
                   "train.checkpoint_every": ...,
                   "pretrained.negative_prompt": ..., "pretrained.resolution": ...,
                   "pretrained.guidance_scale": ..., "pretrained.dtype": ...,
                   "pretrained.batch_size": ..., "pool.per_class": ...})
    params = parse(SynthesisParams, raw, "synthesis")
    assert params.num_threads is None and params.model.sample_size is None
    assert params.model.attention is False and params.train.hflip is False
    assert params.train.log_every == 100 and params.train.checkpoint_every is None
    assert (params.grid.per_class, params.grid.real_per_class) == (8, 2)
    pr = params.pretrained
    assert (pr.dtype, pr.batch_size, pr.resolution) == ("auto", 16, 512)
    assert pr.guidance_scale is None
    assert params.pool.per_class is None
    assert parse(SynthesisParams, _with(grid=None), "synthesis").grid.per_class == 8


def test_choices_match_the_engines():
    """The schema's scheduler and dtype choices are exactly what the engines can build."""
    assert set(get_args(SchedulerName)) == set(D.SCHEDULERS)
    assert set(get_args(PretrainedDtype)) == {"auto", *DTYPES}


def test_only_log_and_checkpoint_intervals_are_marked_as_not_affecting_results():
    """Threads and sampling batch size change float results on CPU, so they stay unmarked; a
    resumed training ends with the same weights, so the checkpoint interval is marked."""
    schema = SynthesisParams.model_json_schema()
    marked = sorted(
        f"{model}.{name}" for model, definition in [("synthesis", schema),
                                                    *schema.get("$defs", {}).items()]
        for name, field in definition.get("properties", {}).items()
        if field.get("affects_results") is False)
    assert marked == ["TrainParams.checkpoint_every", "TrainParams.log_every"]


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"generator.kind": "gan"}, "synthesis.generator.kind"),
        ({"generator.kind": ...}, "synthesis.generator.kind"),
        ({"num_threads": 0}, "synthesis.num_threads"),
        ({"sampling.scheduler": "euler_magic"}, "synthesis.sampling.scheduler"),
        ({"sampling.steps": 0}, "synthesis.sampling.steps"),
        ({"sampling.guidance_scale": -0.5}, "synthesis.sampling.guidance_scale"),
        ({"sampling.batch_size": ...}, "synthesis.sampling.batch_size"),
        ({"sampling.guidance": 3}, "synthesis.sampling.guidance"),
        ({"pool.per_class": 0}, "synthesis.pool.per_class"),
        ({"pool.per_class": 2.5}, "synthesis.pool.per_class"),
        ({"pool.per_class": "ten"}, "synthesis.pool.per_class"),
        ({"pool.per_class": None, "pool.multiple_of_real": None}, "synthesis.pool.per_class"),
        ({"pool.multiple_of_real": -1}, "synthesis.pool.multiple_of_real"),
        ({"pool.shard_size": 0}, "synthesis.pool.shard_size"),
        ({"grid.per_class": 0}, "synthesis.grid.per_class"),
        ({"grid.real_per_class": -1}, "synthesis.grid.real_per_class"),
        ({"model": ...}, "synthesis.model"),
        ({"model.block_out_channels": []}, "synthesis.model.block_out_channels"),
        ({"model.block_out_channels": [16, 0]}, "synthesis.model.block_out_channels"),
        ({"model.norm_num_groups": 3}, "synthesis.model.norm_num_groups"),
        ({"model.layers_per_block": 0}, "synthesis.model.layers_per_block"),
        ({"model.sample_size": 2}, "synthesis.model.sample_size"),
        ({"train": ...}, "synthesis.train"),
        ({"train.lr": 0.0}, "synthesis.train.lr"),
        ({"train.lr": "fast"}, "synthesis.train.lr"),
        ({"train.warmup_steps": -1}, "synthesis.train.warmup_steps"),
        ({"train.weight_decay": -0.1}, "synthesis.train.weight_decay"),
        ({"train.ema_decay": 1.0}, "synthesis.train.ema_decay"),
        ({"train.label_dropout": 1.0}, "synthesis.train.label_dropout"),
        ({"train.num_train_timesteps": 1}, "synthesis.train.num_train_timesteps"),
        ({"train.beta_schedule": "cosine"}, "synthesis.train.beta_schedule"),
        ({"train.log_every": 0}, "synthesis.train.log_every"),
        ({"train.checkpoint_every": -1}, "synthesis.train.checkpoint_every"),
        ({"train.epochz": 5}, "synthesis.train.epochz"),
        ({"train.label_dropout": 0.0}, "synthesis.sampling.guidance_scale"),
        ({"pretrained.resolution": 4}, "synthesis.pretrained.resolution"),
        ({"pretrained.resolution": 500}, "synthesis.pretrained.resolution"),
        ({"pretrained.batch_size": 0}, "synthesis.pretrained.batch_size"),
        ({"pretrained.guidance_scale": -1}, "synthesis.pretrained.guidance_scale"),
        ({"pretrained.dtype": "float64"}, "synthesis.pretrained.dtype"),
        ({"pretrained.prompt_template": "a photo"}, "synthesis.pretrained.prompt_template"),
        ({"generator.kind": "pretrained"}, "synthesis.pretrained.path"),
        ({"generator.kind": "pretrained", "pretrained.path": "/nonexistent/model"},
         "synthesis.pretrained.path"),
        ({"generator.kind": "pretrained", "pretrained.path": "org/not-cached"},
         "synthesis.pretrained.path"),
    ],
)
def test_bad_value_names_its_dotted_key(changes, key):
    """Each bad value raises ParameterError naming the full dotted key."""
    with pytest.raises(ParameterError) as err:
        parse(SynthesisParams, _with(**changes), "synthesis")
    assert err.value.parameter == key
    assert key in str(err.value)


def test_pretrained_path_accepts_a_cached_hub_id(hub_cache):
    """A hub id whose snapshot is in the local hub cache passes validation."""
    hub_cache("org/tiny-sd")
    raw = _with(**{"generator.kind": "pretrained", "pretrained.path": "org/tiny-sd"})
    assert parse(SynthesisParams, raw, "synthesis").pretrained.path == "org/tiny-sd"


def test_unknown_pretrained_path_names_the_key_and_both_forms(hub_cache):
    """An id that is not cached fails naming synthesis.pretrained.path and what it accepts."""
    raw = _with(**{"generator.kind": "pretrained", "pretrained.path": "org/tiny-sd"})
    with pytest.raises(ParameterError) as err:
        parse(SynthesisParams, raw, "synthesis")
    message = str(err.value)
    assert "'synthesis.pretrained.path'" in message and "'org/tiny-sd'" in message
    assert "local diffusers pipeline folder (with model_index.json)" in message
    assert "hub id" in message and "local hub cache" in message


def test_pretrained_needs_a_prompt_template(tmp_path):
    """A pretrained generator without a prompt template names the key."""
    (tmp_path / "model_index.json").write_text("{}")
    raw = _with(**{"generator.kind": "pretrained", "pretrained.path": str(tmp_path),
                   "pretrained.prompt_template": None})
    with pytest.raises(ParameterError) as err:
        parse(SynthesisParams, raw, "synthesis")
    assert err.value.parameter == "synthesis.pretrained.prompt_template"


def test_pretrained_kind_ignores_the_closed_set_blocks(tmp_path):
    """kind=pretrained needs no model/train blocks and no guidance/label-dropout agreement."""
    (tmp_path / "model_index.json").write_text("{}")
    raw = _with(**{"generator.kind": "pretrained", "pretrained.path": str(tmp_path),
                   "model": ..., "train": ...})
    params = parse(SynthesisParams, raw, "synthesis")
    params.check_image_shape((1, 27, 27))  # no UNet to fit


@pytest.mark.parametrize(("sample_size", "shape", "ok"), [
    (None, (1, 28, 28), 28), (None, (3, 30, 30), 32), (32, (1, 28, 28), 32),
    (27, (1, 28, 28), None), (24, (1, 28, 28), None), (30, (1, 28, 28), None)])
def test_sample_size_against_image_shape(sample_size, shape, ok):
    """sample_size: null picks the smallest fitting multiple; a given one must fit and divide."""
    params = parse(SynthesisParams, _with(**{"model.sample_size": sample_size}), "synthesis")
    if ok is None:
        with pytest.raises(ParameterError) as err:
            params.check_image_shape(shape)
        assert err.value.parameter == "model.sample_size"
    else:
        params.check_image_shape(shape)
        assert params.unet_sample_size(*shape[1:]) == ok


def test_prompt_template_without_class_is_rejected(tmp_path):
    """A pretrained generator's prompt template lacking `{class}` names the key."""
    (tmp_path / "model_index.json").write_text("{}")
    with pytest.raises(ParameterError, match=r"synthesis\.pretrained\.prompt_template"):
        synthesis_params(**{"generator.kind": "pretrained", "pretrained.path": str(tmp_path),
                            "pretrained.prompt_template": "a photo"})


@pytest.mark.parametrize(("train", "key"), [
    ({"prediction": "edm"}, "synthesis.sampling.scheduler"),       # dpmsolver++ with edm
    ({"scheduler": "edm_euler"}, "synthesis.sampling.scheduler"),  # edm sampler, epsilon
    ({"prediction": "edm", "scheduler": "edm_euler", "snr_gamma": 5.0},
     "synthesis.train.snr_gamma"),
    ({"prediction": "edm", "scheduler": "edm_euler", "edm": {"sigma_min": 100.0}},
     "synthesis.train.edm.sigma_min"),
])
def test_objective_and_scheduler_must_fit(train, key):
    """An objective with a sampler it cannot drive, or EDM with min-SNR, names its key."""
    with pytest.raises(ParameterError) as info:
        _objective(**train)
    assert info.value.parameter == key


def test_objective_keys_default_to_todays_epsilon_generator():
    """A synthesis block written before the objectives existed parses as DDPM epsilon."""
    block = _with(**{"train.prediction": ..., "train.snr_gamma": ..., "train.edm": ...})
    train = parse(SynthesisParams, block, "synthesis").train
    assert (train.prediction, train.snr_gamma) == ("epsilon", None)
    objective = build_objective(train)
    assert objective.scheduler.config.prediction_type == "epsilon"


def test_pretrained_pipelines_refuse_edm_samplers(tmp_path):
    """A pretrained (diffusers) pipeline cannot be driven by an EDM sampler."""
    (tmp_path / "model_index.json").write_text("{}")
    block = deep_merge(BASE, {"generator": {"kind": "pretrained"},
                              "pretrained": {"path": str(tmp_path)},
                              "sampling": {"scheduler": "edm_euler"}})
    with pytest.raises(ParameterError) as info:
        parse(SynthesisParams, block, "synthesis")
    assert info.value.parameter == "synthesis.sampling.scheduler"
