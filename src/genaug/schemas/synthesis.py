"""The `synthesis` block: which generator, how it is trained, how the pool is sampled."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from genaug.common.hub import ACCEPTED_SOURCES, local_pipeline_folder
from genaug.common.validation import ParameterError
from genaug.schemas.base import Schema

# The sampling schedulers `genaug.models.diffusion.build_sampling_scheduler` can build.
SchedulerName = Literal["dpmsolver++", "ddim", "ddpm", "edm_euler", "edm_dpmsolver++"]
# Closed-set training objectives (`genaug.models.diffusion_objectives`).
Prediction = Literal["epsilon", "v_prediction", "edm"]
EDM_SCHEDULERS = ("edm_euler", "edm_dpmsolver++")
# Torch dtypes a pretrained pipeline may be loaded in; auto = float16 on CUDA, else float32.
PretrainedDtype = Literal["auto", "float32", "float16", "bfloat16"]


class GeneratorParams(Schema):
    """Which generator makes the pool."""

    # closed_set: class-conditional UNet trained here on real_train; pretrained: a diffusers
    # text-to-image pipeline on this machine (the `pretrained` block).
    kind: Literal["closed_set", "pretrained"]


class ModelParams(Schema):
    """The closed-set diffusers UNet2DModel."""

    # null = the smallest size >= the images' H, W divisible by 2**(levels - 1).
    sample_size: Annotated[int, Field(ge=4)] | None = None
    block_out_channels: Annotated[list[PositiveInt], Field(min_length=1)]
    layers_per_block: PositiveInt
    norm_num_groups: PositiveInt
    attention: bool = False

    @model_validator(mode="after")
    def _groups_divide_channels(self) -> ModelParams:
        """GroupNorm needs every block's channel count to be a multiple of the group count."""
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ParameterError("norm_num_groups",
                                 f"a divisor of every block_out_channels entry "
                                 f"{list(self.block_out_channels)}", self.norm_num_groups)
        return self

    def unet_sample_size(self, height: int, width: int) -> int:
        """The UNet's square input size: given, or the smallest >= H, W it can downsample."""
        factor = 2 ** (len(self.block_out_channels) - 1)
        if self.sample_size is None:
            return math.ceil(max(height, width) / factor) * factor
        if self.sample_size < max(height, width) or self.sample_size % factor:
            raise ParameterError("sample_size",
                                 f"null or a multiple of {factor} that is >= the images' "
                                 f"{height}×{width}", self.sample_size)
        return self.sample_size


class EDMParams(Schema):
    """EDM (Karras et al. 2022) noise levels; used when train.prediction is edm."""

    sigma_min: Annotated[float, Field(gt=0.0)] = 0.002
    sigma_max: Annotated[float, Field(gt=0.0)] = 80.0
    sigma_data: Annotated[float, Field(gt=0.0)] = 0.5
    # Training sigmas are log-normal: ln σ ~ N(p_mean, p_std²).
    p_mean: float = -1.2
    p_std: Annotated[float, Field(gt=0.0)] = 1.2

    @model_validator(mode="after")
    def _range(self) -> EDMParams:
        """The sampling range must be non-empty."""
        if self.sigma_min >= self.sigma_max:
            raise ParameterError("sigma_min", f"less than sigma_max ({self.sigma_max})",
                                 self.sigma_min)
        return self


class TrainParams(Schema):
    """Closed-set training: the objective, AdamW, warmup + cosine, EMA."""

    # epsilon: DDPM noise prediction (the original default); v_prediction: DDPM velocity;
    # edm: EDM preconditioning (sample with an edm_* scheduler). Stored in the generator.
    prediction: Prediction = "epsilon"
    # Min-SNR-γ loss weighting (epsilon / v_prediction; null = unweighted MSE), e.g. 5.0.
    snr_gamma: Annotated[float, Field(gt=0.0)] | None = None
    edm: EDMParams = EDMParams()

    steps: PositiveInt
    batch_size: PositiveInt
    lr: Annotated[float, Field(gt=0.0)]
    warmup_steps: Annotated[int, Field(ge=0)]
    weight_decay: Annotated[float, Field(ge=0.0)]
    ema_decay: Annotated[float, Field(ge=0.0, lt=1.0)]
    # Probability of replacing the label by the null class (classifier-free guidance).
    label_dropout: Annotated[float, Field(ge=0.0, lt=1.0)]
    hflip: bool = False
    num_train_timesteps: Annotated[int, Field(ge=2)]
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"]
    # Only how often progress is logged.
    log_every: Annotated[PositiveInt, Field(json_schema_extra={"affects_results": False})] = 100
    # Save a resumable checkpoint every this many steps (and after the last); null or 0 = off.
    # A rerun of a killed training resumes from the latest, to the same weights (on CPU, bit
    # for bit), so it only says how much a kill can cost.
    checkpoint_every: Annotated[int, Field(ge=0)] | None = Field(
        None, json_schema_extra={"affects_results": False})

    @model_validator(mode="after")
    def _weighting_fits_objective(self) -> TrainParams:
        """EDM has its own loss weighting; min-SNR-γ is for the DDPM objectives."""
        if self.prediction == "edm" and self.snr_gamma is not None:
            raise ParameterError("snr_gamma", "null when prediction is edm (EDM weights its "
                                 "loss by λ(σ))", self.snr_gamma)
        return self


class SamplingParams(Schema):
    """How pool images are denoised."""

    scheduler: SchedulerName
    steps: PositiveInt
    # 1.0 = no guidance; > 1 doubles the batch for classifier-free guidance.
    guidance_scale: Annotated[float, Field(ge=0.0)]
    # Images per closed-set UNet call (a pretrained pipeline takes pretrained.batch_size
    # prompts per call). Left counted as affecting results: the noise is drawn per shard
    # whatever the batch size, but the network's float results are not guaranteed
    # bit-identical across batch shapes, and the pool fingerprint includes it.
    batch_size: PositiveInt


class PoolParams(Schema):
    """How many pool images, in shards of what size."""

    # Images per class; null = ceil(multiple_of_real × len(real_train) / K).
    per_class: PositiveInt | None = None
    multiple_of_real: PositiveInt | None = None
    # Images per shard: the memory bound and the resume granularity.
    shard_size: PositiveInt

    @model_validator(mode="after")
    def _one_size_given(self) -> PoolParams:
        """The pool size comes from per_class or, failing that, from multiple_of_real."""
        if self.per_class is None and self.multiple_of_real is None:
            raise ParameterError("per_class", "a positive integer (or set pool.multiple_of_real)",
                                 None)
        return self


class GridParams(Schema):
    """The sample grid figure."""

    per_class: PositiveInt = 8
    real_per_class: Annotated[int, Field(ge=0)] = 2


class PretrainedParams(Schema):
    """An open-set diffusers text-to-image pipeline already on this machine."""

    # ACCEPTED_SOURCES (genaug.common.hub): a local pipeline folder with model_index.json, or a
    # hub id cached locally; required when generator.kind is pretrained.
    path: str | None = None
    # Prompt per class, e.g. "a photo of a {class}"; required when generator.kind is pretrained.
    prompt_template: str | None = None
    negative_prompt: str | None = None
    # Square generation size, a multiple of 8 (SD's VAE works on 8×8 pixel blocks); null = the
    # pipeline's default (512 SD 1.x, 768 SD 2.x, 1024 SDXL). Outputs are resized to H×W.
    resolution: Annotated[int, Field(ge=8, multiple_of=8)] | None = 512
    # Prompts per pipeline call (the UNet sees twice as many rows with guidance); the peak
    # memory estimate logged before sampling grows with it (docs/gpu.md).
    batch_size: PositiveInt = 16
    # null = sampling.guidance_scale.
    guidance_scale: Annotated[float, Field(ge=0.0)] | None = None
    # auto = float16 on CUDA, float32 elsewhere; resolved when the generator is referenced.
    dtype: PretrainedDtype = "auto"

    @field_validator("prompt_template")
    @classmethod
    def _has_class_placeholder(cls, value: str | None) -> str | None:
        """The template must say where the class name goes."""
        if value is not None and "{class}" not in value:
            raise ParameterError("", "a string containing '{class}'", value)
        return value


class SynthesisParams(Schema):
    """The whole `synthesis` block."""

    generator: GeneratorParams
    # torch intra-op threads for training and sampling; null = torch's default. Left counted
    # as affecting results: on CPU the thread count changes float reduction order, and a
    # generator trained with 1 thread differs in the last bits from one trained with 2.
    num_threads: PositiveInt | None = None
    # Closed-set UNet training and sampling: auto = bf16 autocast (fp32 weights) where the
    # device runs bf16 natively, else fp32 (genaug.common.precision).
    precision: Literal["auto", "fp32", "bf16"] = "fp32"
    # The UNet's activations and conv weights in channels_last (training and sampling), and
    # torch.compile of its forward in training (a compile per training: for long GPU runs).
    channels_last: bool = False
    compile: bool = False
    model: ModelParams | None = None  # required for the closed set
    train: TrainParams | None = None  # required for the closed set
    pretrained: PretrainedParams | None = None  # required for a pretrained generator
    sampling: SamplingParams
    pool: PoolParams
    grid: GridParams = GridParams()

    @field_validator("grid", mode="before")
    @classmethod
    def _null_grid_is_default(cls, value: object) -> object:
        """`grid: null` has always meant the default grid."""
        return {} if value is None else value

    @model_validator(mode="after")
    def _kind_blocks(self) -> SynthesisParams:
        """The blocks the chosen generator kind needs are there and consistent."""
        if self.generator.kind == "closed_set":
            for key in ("model", "train"):
                if getattr(self, key) is None:
                    raise ParameterError(key, "a value (the parameter is missing)", None)
            edm_model = self.train.prediction == "edm"
            if edm_model != (self.sampling.scheduler in EDM_SCHEDULERS):
                expected = (f"one of {list(EDM_SCHEDULERS)}" if edm_model else
                            f"a DDPM-family scheduler, not one of {list(EDM_SCHEDULERS)}")
                raise ParameterError("sampling.scheduler",
                                     f"{expected} for train.prediction "
                                     f"{self.train.prediction!r}", self.sampling.scheduler)
            if self.sampling.guidance_scale != 1.0 and self.train.label_dropout == 0.0:
                raise ParameterError("sampling.guidance_scale",
                                     "1.0 when train.label_dropout is 0 (no unconditional model "
                                     "was trained)", self.sampling.guidance_scale)
            return self
        if self.pretrained is None:
            raise ParameterError("pretrained", "a value (the parameter is missing)", None)
        if self.sampling.scheduler in EDM_SCHEDULERS:
            raise ParameterError("sampling.scheduler", "dpmsolver++, ddim or ddpm for a "
                                 "pretrained pipeline (EDM samplers are for an edm closed-set "
                                 "generator)", self.sampling.scheduler)
        path = self.pretrained.path
        if path is None or local_pipeline_folder(path) is None:
            raise ParameterError("pretrained.path", ACCEPTED_SOURCES, path)
        if self.pretrained.prompt_template is None:
            raise ParameterError("pretrained.prompt_template", "a string containing '{class}'",
                                 None)
        return self

    def unet_sample_size(self, height: int, width: int) -> int:
        """The closed-set UNet's input size for H×W images (ParameterError if it cannot fit)."""
        try:
            return self.model.unet_sample_size(height, width)
        except ParameterError as exc:
            raise ParameterError(f"model.{exc.parameter}", exc.expected, exc.got) from None

    def check_image_shape(self, shape: tuple[int, int, int]) -> None:
        """Fail before any run if the closed-set UNet cannot take images of this shape."""
        if self.generator.kind == "closed_set":
            self.unet_sample_size(shape[1], shape[2])
