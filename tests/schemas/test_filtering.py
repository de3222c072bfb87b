"""FilteringParams (the shared CLIP block) and FilterParams (each arm's filter): the shipped
blocks parse and fit the images, optional keys keep their defaults, bad values name their key."""

from __future__ import annotations

import pytest

from genaug.common.validation import ParameterError
from genaug.schemas.base import deep_merge, parse
from genaug.schemas.filtering import ClosedSetTrain, FilteringParams, FilterParams
from tests.support import conf_parameters, conf_params, filter_params, filtering_params


def test_conf_parameters_validate() -> None:
    """conf/base and conf/test filtering parameters parse, and fit the 28×28 images."""
    for env in ("base", "test"):
        conf = conf_parameters("filtering", env)
        parse(FilteringParams, conf["filtering"], "filtering").check_image_shape((1, 28, 28))
        parse(FilterParams, conf["filter"], "filter")


def test_defaults_of_optional_keys() -> None:
    """Keys that may be left out get today's defaults (all of real_test, grid of 4, mlp 4.0)."""
    block = conf_params("filtering")
    del block["report_max_per_class"], block["clip"]["closed_set"]["vision"]["mlp_ratio"]
    del block["clip"]["pretrained"]
    parsed = parse(FilteringParams, block, "filtering")
    assert parsed.report_max_per_class is None and parsed.clip.pretrained is None
    assert parsed.clip.closed_set.vision.mlp_ratio == 4.0
    arm_filter = conf_parameters("filtering")["filter"]
    for grid in ({}, {"grid": None}):
        block = {k: v for k, v in arm_filter.items() if k != "grid"} | grid
        assert parse(FilterParams, block, "filter").grid.images_per_class == 4


def test_only_the_chosen_clip_kind_is_required(tmp_path) -> None:
    """kind: pretrained needs no closed_set block, and closed_set needs no pretrained block."""
    checkpoint = tmp_path / "clip.safetensors"
    checkpoint.write_bytes(b"")
    pretrained = deep_merge(conf_params("filtering"), {"clip": {
        "kind": "pretrained", "pretrained": {"pretrained": str(checkpoint)}}})
    del pretrained["clip"]["closed_set"]
    parse(FilteringParams, pretrained, "filtering").check_image_shape((1, 27, 27))
    del pretrained["clip"]["pretrained"]
    with pytest.raises(ParameterError, match=r"'filtering\.clip\.pretrained'.*missing"):
        parse(FilteringParams, pretrained, "filtering")
    closed = conf_params("filtering")
    del closed["clip"]["closed_set"]
    with pytest.raises(ParameterError, match=r"'filtering\.clip\.closed_set'.*missing"):
        parse(FilteringParams, closed, "filtering")


def _fake_hf_cache(root, repo: str, filename: str) -> None:
    """A Hugging Face hub cache holding one file of `repo` (the layout huggingface_hub reads)."""
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("abc123")
    (folder / "snapshots" / "abc123").mkdir(parents=True)
    (folder / "snapshots" / "abc123" / filename).write_bytes(b"weights")


def test_a_pretrained_clip_tag_must_be_cached_here(tmp_path) -> None:
    """A tag is accepted only when its weights are in the cache: nothing is downloaded."""
    tag = {"model_name": "ViT-B-32", "pretrained": "laion2b_s34b_b79k",
           "cache_dir": str(tmp_path)}
    block = deep_merge(conf_params("filtering"),
                       {"clip": {"kind": "pretrained", "pretrained": tag}})
    with pytest.raises(ParameterError, match=r"filtering\.clip\.pretrained\.pretrained.*cache"):
        parse(FilteringParams, block, "filtering")
    _fake_hf_cache(tmp_path, "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "open_clip_model.safetensors")
    parsed = parse(FilteringParams, block, "filtering")
    assert parsed.clip.pretrained.pretrained == tag["pretrained"]
    unknown = deep_merge(block, {"clip": {"pretrained": {"pretrained": "no_such_tag"}}})
    with pytest.raises(ParameterError, match=r"filtering\.clip\.pretrained\.pretrained.*tag of"):
        parse(FilteringParams, unknown, "filtering")


def test_pretrained_model_config_key_round_trips() -> None:
    """`pretrained.model_config` (pydantic's reserved name) parses and dumps under its key."""
    parsed = filtering_params({"clip": {"pretrained": {"model_config": "tiny.json"}}})
    assert parsed.clip.pretrained.model_config_path == "tiny.json"
    assert parsed.to_dict()["clip"]["pretrained"]["model_config"] == "tiny.json"
    assert FilteringParams.model_validate(parsed.to_dict()) == parsed


CS = "clip.closed_set"


@pytest.mark.parametrize(("overrides", "key"), [
    ({"clip": {"kind": "open"}}, "clip.kind"),
    ({"clip": {"caption_template": "a photo"}}, "clip.caption_template"),
    ({"clip": {"caption_template": 3}}, "clip.caption_template"),
    ({"clip": {"closed_set": {"embed_dim": 0}}}, f"{CS}.embed_dim"),
    *(({"clip": {"closed_set": {"vision": {key: 0}}}}, f"{CS}.vision.{key}")
      for key in ("patch_size", "width", "layers", "head_width")),
    ({"clip": {"closed_set": {"vision": {"head_width": 12}}}}, f"{CS}.vision.head_width"),
    ({"clip": {"closed_set": {"vision": {"width": "32"}}}}, f"{CS}.vision.width"),
    *(({"clip": {"closed_set": {"text": {key: 0}}}}, f"{CS}.text.{key}")
      for key in ("context_length", "width", "heads", "layers")),
    ({"clip": {"closed_set": {"text": {"context_length": 3}}}}, f"{CS}.text.context_length"),
    ({"clip": {"closed_set": {"text": {"heads": 3}}}}, f"{CS}.text.heads"),
    ({"clip": {"closed_set": {"train": {"epochs": 0}}}}, f"{CS}.train.epochs"),
    ({"clip": {"closed_set": {"train": {"batch_size": 1}}}}, f"{CS}.train.batch_size"),
    ({"clip": {"closed_set": {"train": {"lr": 0.0}}}}, f"{CS}.train.lr"),
    ({"clip": {"closed_set": {"train": {"lr": True}}}}, f"{CS}.train.lr"),
    ({"clip": {"closed_set": {"train": {"weight_decay": -0.1}}}}, f"{CS}.train.weight_decay"),
    ({"clip": {"closed_set": {"train": {"warmup_steps": -1}}}}, f"{CS}.train.warmup_steps"),
    ({"clip": {"closed_set": {"train": {"max_shift": -1}}}}, f"{CS}.train.max_shift"),
    ({"clip": {"closed_set": {"train": {"epochz": 5}}}}, f"{CS}.train.epochz"),
    ({"clip": {"pretrained": {"model_name": ""}}}, "clip.pretrained.model_name"),
    ({"clip": {"pretrained": {"pretrained": None}}}, "clip.pretrained.pretrained"),
    ({"score_batch_size": 0}, "score_batch_size"),
    ({"score_batch_size": None}, "score_batch_size"),
    ({"report_max_per_class": 0}, "report_max_per_class"),
    ({"report_max_per_clas": 5}, "report_max_per_clas"),
])
def test_bad_filtering_parameter_names_its_key(overrides, key) -> None:
    """Each bad `filtering` value fails validation naming its full dotted key."""
    with pytest.raises(ParameterError, match=rf"'filtering\.{key}'") as info:
        filtering_params(overrides)
    assert info.value.parameter == f"filtering.{key}"


def test_unknown_key_suggests_the_closest() -> None:
    """A misspelt key is refused with a did-you-mean hint."""
    with pytest.raises(ParameterError, match=r"did you mean `score_batch_size`"):
        filtering_params({"score_bach_size": 8})
    with pytest.raises(ParameterError, match=r"did you mean `drop_fraction`"):
        filter_params({"drop_fractoin": 0.5})


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, "0.2", None, True])
def test_bad_drop_fraction_names_parameter(bad) -> None:
    """drop_fraction outside [0, 1) fails validation, naming filter.drop_fraction."""
    with pytest.raises(ParameterError, match=r"filter\.drop_fraction"):
        filter_params({"drop_fraction": bad})


def test_bad_mode_grid_and_clip_kind() -> None:
    """Unknown filter mode / CLIP kind, a zero grid and a bad patch size are named."""
    with pytest.raises(ParameterError, match=r"filter\.mode"):
        filter_params({"mode": "top"})
    with pytest.raises(ParameterError, match=r"filter\.grid\.images_per_class"):
        filter_params({"grid": {"images_per_class": 0}})
    bad = filtering_params({"clip": {"closed_set": {"vision": {"patch_size": 5}}}})
    with pytest.raises(ParameterError, match=r"'clip\.closed_set\.vision\.patch_size'"):
        bad.check_image_shape((1, 28, 28))
    bad.check_image_shape((1, 35, 35))
    with pytest.raises(ParameterError, match=r"clip\.closed_set\.vision\.patch_size"):
        filtering_params().check_image_shape((3, 28, 30))
    with pytest.raises(ParameterError, match=r"filtering\.clip\.kind"):
        filtering_params({"clip": {"kind": "open"}})


def test_score_batch_size_and_checkpoint_interval_are_marked_as_not_affecting_results() -> None:
    """The inference batch size and the CLIP's checkpoint interval are marked; the report cap
    changes clip_report."""
    train = ClosedSetTrain.model_fields
    assert train["checkpoint_every"].json_schema_extra == {"affects_results": False}
    assert [n for n, f in train.items() if f.json_schema_extra] == ["checkpoint_every"]
    fields = FilteringParams.model_fields
    assert fields["score_batch_size"].json_schema_extra == {"affects_results": False}
    assert fields["report_max_per_class"].json_schema_extra is None
