"""The real-data-size axis (`ablations.data_size`): the closed-set chain once per base size.

Each base size (`train_per_class`) gets its own namespace `size_<n>` (real splits, generator,
CLIP), one pool per `pool_multiples` entry (`size_<n>_pool_<m>x`) and its own arms: a
real-only baseline, a real-augmentation curve (`curve_fractions` of the base size) and one
joint arm per pool. What does not depend on the size (the evaluator, the test split) is shared.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, model_validator

from genaug.common.validation import ParameterError
from genaug.schemas.base import Schema

DATA_SIZE = "data_size"
Increasing = Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1)]


class GeneratorSteps(Schema):
    """How the generator's training steps scale with the base size.

    steps(n) = max(min_steps, round(synthesis.train.steps × (n / reference_per_class) **
    exponent)): 0 keeps the configured steps at every size, 1 keeps the epochs over the real
    images, 0.5 (the default) is in between; `reference_per_class` null means
    data_processing.train_per_class, the size the configured steps were chosen for.
    """

    exponent: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    reference_per_class: Annotated[int, Field(gt=0)] | None = None
    min_steps: Annotated[int, Field(gt=0)] = 1

    def steps(self, per_class: int, configured: int, reference: int) -> int:
        """The generator's training steps at `per_class` real images per class."""
        base = self.reference_per_class or reference
        return max(self.min_steps, round(configured * (per_class / base) ** self.exponent))


class DataSizeAblation(Schema):
    """Base sizes, and per size: the curve, the synthetic pools, the seeds and the filter."""

    # Real images per class of each base size (strictly increasing).
    train_per_class: Increasing
    # The real-augmentation curve of each size: extra real images per class as fractions of
    # the base size (rounded, at least 1), drawn from that size's own reserve.
    curve_fractions: Annotated[list[Annotated[float, Field(gt=0.0)]], Field(min_length=1)]
    # One synthetic arm per entry: a pool of this many synthetic images per real one.
    pool_multiples: Increasing
    # Seeds of every arm of this ablation (null: training.seeds).
    seeds: Annotated[int, Field(gt=0)] | list[int] | None = None
    # CLIP-filter drop fraction of every synthetic arm.
    drop_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.2
    generator_steps: GeneratorSteps = Field(default_factory=GeneratorSteps)

    @model_validator(mode="after")
    def _increasing(self) -> DataSizeAblation:
        """Sizes and pool multiples strictly increasing."""
        for key in ("train_per_class", "pool_multiples"):
            values = getattr(self, key)
            if any(b <= a for a, b in itertools.pairwise(values)):
                raise ParameterError(key, "strictly increasing numbers", values)
        return self

    def extra_per_class(self, per_class: int) -> list[int]:
        """Extra real images per class of each curve arm at one base size."""
        counts = [max(1, round(fraction * per_class)) for fraction in self.curve_fractions]
        if any(b <= a for a, b in itertools.pairwise(counts)):
            raise ParameterError("ablations.data_size.curve_fractions",
                                 f"fractions giving strictly increasing counts at every size "
                                 f"(at {per_class} per class they give {counts})",
                                 self.curve_fractions)
        return counts


@dataclass(frozen=True)
class SizeChain:
    """One base size's namespaces: its chain, pools and arms."""

    per_class: int
    namespace: str  # real splits, generator, CLIP
    baseline: str
    curve: tuple[str, ...]
    synthetic: dict[str, str]  # arm -> its pool's namespace
    pool_multiples: dict[str, int]  # pool namespace -> synthetic images per real one
    extra_per_class: tuple[int, ...]

    @property
    def arms(self) -> tuple[str, ...]:
        """Every arm of this size, in table order."""
        return (self.baseline, *self.synthetic, *self.curve)


def expand_sizes(block: DataSizeAblation) -> dict[str, SizeChain]:
    """Namespaces, pools and arms of every base size."""
    chains = {}
    for per_class in block.train_per_class:
        namespace = f"size_{per_class}"
        pools = {f"{namespace}_pool_{m}x": m for m in block.pool_multiples}
        counts = tuple(block.extra_per_class(per_class))
        chains[namespace] = SizeChain(
            per_class, namespace, f"{namespace}__baseline",
            tuple(f"{namespace}__real_{i}" for i in range(1, len(counts) + 1)),
            {f"{namespace}__synthetic_{m}x": pool for pool, m in pools.items()},
            pools, counts)
    return chains


def size_overrides(block: DataSizeAblation, chain: SizeChain) -> dict[str, dict[str, dict]]:
    """The per-arm overrides of one size's arms (strategy, seeds, curve count, filter)."""
    seeds = {} if block.seeds is None else {"seeds": block.seeds}
    overrides: dict[str, dict[str, dict]] = {
        chain.baseline: {"training": {"strategy": "real_only", **seeds}}}
    overrides.update({arm: {"training": {"strategy": "real_augmented",
                                         "extra_real_per_class": count, **seeds}}
                      for arm, count in zip(chain.curve, chain.extra_per_class, strict=True)})
    overrides.update({arm: {"training": {"strategy": "joint", **seeds},
                            "filter": {"drop_fraction": block.drop_fraction}}
                      for arm in chain.synthetic})
    return overrides
