"""Parameters of the filtering stage: the shared CLIP (`filtering`) and the per-arm `filter`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

from genaug.common.openclip_weights import cached_tag_weights, tag_config
from genaug.common.validation import ParameterError
from genaug.schemas.base import Schema

NonEmptyStr = Annotated[str, Field(min_length=1)]


def _has_class_placeholder(value: str) -> str:
    """A caption template must name where the class goes."""
    if "{class}" not in value:
        raise ParameterError("", "a string containing '{class}'", value)
    return value


class ClosedSetVision(Schema):
    """The ViT image tower; its image size comes from the data."""

    patch_size: PositiveInt
    width: PositiveInt
    layers: PositiveInt
    head_width: PositiveInt
    mlp_ratio: float = 4.0

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ClosedSetVision:
        """Attention heads of head_width each must tile the width."""
        if self.width % self.head_width:
            raise ParameterError("head_width", "a divisor of vision.width", self.head_width)
        return self


class ClosedSetText(Schema):
    """The text tower (open_clip's SimpleTokenizer, a short context)."""

    context_length: Annotated[int, Field(ge=4)]
    width: PositiveInt
    heads: PositiveInt
    layers: PositiveInt
    mlp_ratio: float = 4.0

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ClosedSetText:
        """The width must split evenly over the heads."""
        if self.width % self.heads:
            raise ParameterError("heads", "a divisor of text.width", self.heads)
        return self


class ClosedSetTrain(Schema):
    """ClipLoss training on real_train image-caption pairs."""

    epochs: PositiveInt
    batch_size: Annotated[int, Field(ge=2)]
    lr: Annotated[float, Field(gt=0.0)]
    weight_decay: Annotated[float, Field(ge=0.0)]
    warmup_steps: Annotated[int, Field(ge=0)]
    max_shift: Annotated[int, Field(ge=0)]
    # fp32, or bf16 autocast around forward and loss (fp32 weights and optimizer); auto = bf16
    # where the device runs it natively (genaug.common.precision). conf/base keeps fp32.
    precision: Literal["auto", "fp32", "bf16"] = "fp32"
    # Save a resumable checkpoint every this many epochs (and after the last); null or 0 = off.
    # A rerun of a killed training resumes from the latest to the same weights.
    checkpoint_every: Annotated[int, Field(ge=0)] | None = Field(
        None, json_schema_extra={"affects_results": False})


class ClosedSetClip(Schema):
    """A small open_clip CLIP trained here on real_train."""

    embed_dim: PositiveInt
    vision: ClosedSetVision
    text: ClosedSetText
    train: ClosedSetTrain


class PretrainedClip(Schema):
    """open_clip weights by model name and a tag already in the local cache, or a local file."""

    # `model_config` is pydantic's own attribute, so the field takes the key as its alias.
    model_config = ConfigDict(serialize_by_alias=True)

    model_name: NonEmptyStr
    pretrained: NonEmptyStr
    # An open_clip JSON model config (file or folder) registered before the model is built.
    model_config_path: str | None = Field(None, alias="model_config")
    cache_dir: str | None = None

    def check_files_here(self) -> None:
        """The model config and the weights are on this machine now (nothing is downloaded)."""
        if self.model_config_path and not Path(self.model_config_path).expanduser().exists():
            raise ParameterError("model_config", "an existing open_clip JSON model config file "
                                 "or folder", self.model_config_path)
        if Path(self.pretrained).expanduser().is_file():
            return
        if not tag_config(self.model_name, self.pretrained):
            raise ParameterError("pretrained", f"a local checkpoint file, or an open_clip tag of "
                                 f"{self.model_name} (open_clip.list_pretrained_tags_by_model)",
                                 self.pretrained)
        if cached_tag_weights(self.model_name, self.pretrained, self.cache_dir) is None:
            raise ParameterError("pretrained", f"a tag whose weights are already in the local "
                                 f"cache (cache_dir {self.cache_dir or 'default'}); nothing is "
                                 "downloaded: copy the checkpoint here and give its path",
                                 self.pretrained)


class Clip(Schema):
    """Which CLIP scores the pool, and the caption of each class."""

    kind: Literal["closed_set", "pretrained"]
    caption_template: Annotated[str, AfterValidator(_has_class_placeholder)]
    # Only the chosen kind's block is required; the other may be left out.
    closed_set: ClosedSetClip | None = None
    pretrained: PretrainedClip | None = None

    @model_validator(mode="after")
    def _chosen_kind_given(self) -> Clip:
        """The block of the chosen kind must be there."""
        if getattr(self, self.kind) is None:
            raise ParameterError(self.kind, "a value (the parameter is missing)", None)
        if self.kind == "pretrained":
            try:
                self.pretrained.check_files_here()
            except ParameterError as exc:
                raise ParameterError(f"pretrained.{exc.parameter}", exc.expected,
                                     exc.got) from None
        return self


class FilteringParams(Schema):
    """The shared `filtering` block: the CLIP, its scoring batch and its report on real_test."""

    clip: Clip
    # Inference only: an image's score does not depend on its batch mates; the batch shape
    # moves it only by float rounding (~1e-7 on CPU), as the thread count does.
    score_batch_size: PositiveInt = Field(json_schema_extra={"affects_results": False})
    # The first this-many real_test images per class go into clip_report; None = all of them.
    report_max_per_class: PositiveInt | None = None

    def check_image_shape(self, shape: tuple[int, int, int]) -> None:
        """The closed-set patch size must divide the images' height and width."""
        if self.clip.kind != "closed_set":
            return  # open_clip's preprocessing resizes the images to the pretrained tower
        patch = self.clip.closed_set.vision.patch_size
        if shape[1] % patch or shape[2] % patch:
            raise ParameterError("clip.closed_set.vision.patch_size",
                                 f"a divisor of the images' height and width {tuple(shape[1:])}",
                                 patch)


class FilterGrid(Schema):
    """The kept-vs-rejected figure."""

    images_per_class: PositiveInt = 4


class FilterParams(Schema):
    """The per-arm `filter` block: how much of the scored pool to drop, and how."""

    drop_fraction: Annotated[float, Field(ge=0.0, lt=1.0)]
    mode: Literal["per_class", "global"]
    grid: FilterGrid = FilterGrid()

    @field_validator("grid", mode="before")
    @classmethod
    def _null_grid_is_default(cls, value: Any) -> Any:
        """`grid: null` means the default grid (as an absent block does)."""
        return {} if value is None else value
