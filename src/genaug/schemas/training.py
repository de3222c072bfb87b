"""Parameters of classifier training: the shared `ClassifierParams` (architecture, normalisation,
optimisation, augmentation) and the per-arm `TrainingParams` (strategy, seeds, batch mix, phases).

`ClassifierParams` is also the base of `evaluation.evaluator` (schemas/evaluation.py): the
evaluator network is trained with the same keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from genaug.common.validation import ParameterError
from genaug.schemas.base import Schema

UnitInterval = Annotated[float, Field(ge=0.0, lt=1.0)]  # [0, 1)


def _null_is_empty(value: Any) -> Any:
    """A sub-block written as `key: null` means "all defaults", as `key: {}` does."""
    return {} if value is None else value


class FastCNNParams(Schema):
    """`fast_cnn`: Conv-BN-ReLU stages with 2×2 max-pool between them."""

    widths: Annotated[list[PositiveInt], Field(min_length=1)] = Field(
        default_factory=lambda: [32, 64, 128])
    dropout: UnitInterval = 0.2
    convs_per_stage: PositiveInt = 1


class NormalizeParams(Schema):
    """`normalize`: per-channel mean/std of x/255, or both null for x/127.5 - 1."""

    mean: Annotated[list[float], Field(min_length=1)] | None = None
    std: Annotated[list[float], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> NormalizeParams:
        for key in ("mean", "std"):
            if (self.mean is None) != (self.std is None) and getattr(self, key) is None:
                raise ParameterError(key, "a list of numbers in [0, 1] (both mean and std, or "
                                     "both null for x/127.5-1)", None)
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ParameterError("std", "positive numbers", self.std)
        return self

    def stats(self) -> tuple[list[float], list[float]] | None:
        """(mean, std) for `normalize_images`, or None for x/127.5 - 1."""
        if self.mean is None or self.std is None:
            return None
        return list(self.mean), list(self.std)

    def check_channels(self, in_channels: int) -> None:
        """Each list holds one value or one per image channel."""
        for key in ("mean", "std"):
            value = getattr(self, key)
            if value is not None and len(value) not in (1, in_channels):
                raise ParameterError(key, f"a list of 1 or {in_channels} numbers in [0, 1] (both "
                                     "mean and std, or both null for x/127.5-1)", value)


class AugmentParams(Schema):
    """`augment`: random crop with zero padding and horizontal flip on uint8 batches."""

    random_crop: bool = False
    crop_padding: NonNegativeInt = 2
    horizontal_flip: bool = False
    per_sample: bool = True


class ClassifierParams(Schema):
    """Everything that trains one classifier: architecture, normalisation, optimisation."""

    architecture: Literal["fast_cnn", "resnet18"]
    fast_cnn: FastCNNParams = FastCNNParams()
    normalize: NormalizeParams = NormalizeParams()
    epochs: PositiveInt
    batch_size: PositiveInt
    optimizer: Literal["sgd", "adamw"]
    lr: PositiveFloat
    momentum: UnitInterval = 0.9
    weight_decay: Annotated[float, Field(ge=0.0)] = 0.0
    lr_schedule: Literal["cosine", "constant", "step"]
    lr_step_epochs: PositiveInt = 10
    lr_gamma: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    label_smoothing: UnitInterval = 0.0
    augment: AugmentParams = AugmentParams()
    # auto = bf16 autocast (fp32 weights and optimizer) where the device runs bf16 natively
    # (CUDA, AVX512-BF16/AMX CPUs), else fp32; the choice is logged and kept in the history.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # Activations and conv weights in channels_last (faster convolutions on CPU and GPU).
    channels_last: bool = True
    # torch.compile the network's forward (Inductor: Triton on CUDA, a C++ compiler on CPU);
    # pays a compile per training, so it helps long trainings on a GPU. Weights differ from an
    # eager run in float rounding and in dropout's random draws.
    compile: bool = False
    # CPU threads for torch (null = torch's default). Not marked `affects_results=False`: the
    # thread count changes the order of float reductions, so trained weights differ bitwise.
    num_threads: PositiveInt | None = None

    @field_validator("fast_cnn", "normalize", "augment", mode="before")
    @classmethod
    def _null_block(cls, value: Any) -> Any:
        return _null_is_empty(value)

    def check_image_shape(self, shape: tuple[int, int, int]) -> None:
        """`normalize` has one value or one per channel of the images."""
        try:
            self.normalize.check_channels(shape[0])
        except ParameterError as exc:
            raise ParameterError(f"normalize.{exc.parameter}", exc.expected, exc.got) from None


class PhaseParams(Schema):
    """`pretrain` / `finetune` of the sequential strategy (missing keys: the top-level ones)."""

    epochs: NonNegativeInt
    lr: PositiveFloat


class TrainingParams(ClassifierParams):
    """`training`: an arm's classifiers (one per seed) and how real and synthetic images mix."""

    strategy: Literal["real_only", "joint", "sequential", "real_augmented"]
    # A count N (seeds 0..N-1; it survives `kedro run --params training.seeds=10`) or an
    # explicit list of distinct seeds.
    seeds: Annotated[list[NonNegativeInt], Field(min_length=1)]
    mix: Literal["ratio", "concat"] = "ratio"
    synthetic_fraction: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    epoch_basis: Literal["real", "union"] = "real"
    # real_augmented arms of the real-augmentation curve only: extra real images per class drawn
    # from real_reserve (null: as many per class as the synthetic set it is compared with).
    extra_real_per_class: PositiveInt | None = None
    pretrain: PhaseParams
    finetune: PhaseParams

    @model_validator(mode="before")
    @classmethod
    def _phases_inherit(cls, data: Any) -> Any:
        """`pretrain`/`finetune` epochs and lr default to the top-level epochs and lr."""
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for phase in ("pretrain", "finetune"):
            sub = _null_is_empty(data.get(phase))
            if isinstance(sub, Mapping):
                sub = dict(sub)
                for key in ("epochs", "lr"):
                    if key not in sub and key in data:
                        sub[key] = data[key]
            data[phase] = sub
        return data

    @field_validator("seeds", mode="before")
    @classmethod
    def _count_is_range(cls, seeds: Any) -> Any:
        """`seeds: N` means seeds 0..N-1."""
        if isinstance(seeds, int) and not isinstance(seeds, bool):
            if seeds < 1:
                raise ParameterError("", "a number of seeds >= 1 or a non-empty list of "
                                     "distinct ints >= 0", seeds)
            return list(range(seeds))
        return seeds

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ParameterError("", "a non-empty list of distinct ints >= 0", seeds)
        return seeds
