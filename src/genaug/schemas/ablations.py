"""The `ablations` block: each ablation's arms declared in parameters, and their expansion.

Pipelines are built from this declaration (`genaug.pipelines.ablations.create_pipelines`), so
an arm, a curve point or a grid point is a YAML edit. Fixed arms whose wiring differs
(`baseline`, `sequential`, `real_augmented`) keep their own top-level blocks.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field, model_validator

from genaug.common.validation import ParameterError
from genaug.schemas.base import Schema, deep_merge
from genaug.schemas.data_size import (
    DATA_SIZE,
    DataSizeAblation,
    SizeChain,
    expand_sizes,
    size_overrides,
)

BASELINE = "baseline"
# The training ablation's joint arm is this threshold arm (computed once for both ablations).
FILTERED_ARM = "drop_20"
REUSING_ARMS = ("sequential", "real_augmented")
FIXED_ARMS = (BASELINE, *REUSING_ARMS)
CURVE_PREFIX = "real_curve_"
QUALITY = "quality"
# Every ablation with a report (`reporting.<ablation>`).
ABLATIONS = ("threshold", "training", QUALITY, DATA_SIZE)
# The kept-fidelity name of the quality cells on the shared `synthetic_pool`.
SHARED_POOL = f"{QUALITY}_shared_pool"
# An arm or pool name is a Kedro namespace: no dots.
ArmName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
# Per-arm overrides: stage -> keys (validated later as the arm's effective blocks).
Overrides = dict[str, dict[str, Any]]


class ThresholdAblation(Schema):
    """The threshold ablation's filtering arms: name -> overrides of the per-arm blocks."""

    arms: Annotated[dict[ArmName, Overrides], Field(min_length=1)]


class RealCurve(Schema):
    """The real-augmentation curve: extra real images per class, one `real_curve_<i>` arm each."""

    # Strictly increasing counts, each at most data_processing.reserve_per_class ...
    extra_real_per_class: list[Annotated[int, Field(gt=0)]] | None = None
    # ... or fractions of the reserve (rounded down, each at least one image).
    reserve_fractions: list[Annotated[float, Field(gt=0.0, le=1.0)]] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> RealCurve:
        """Exactly one of the two forms, non-empty."""
        if (self.extra_real_per_class is None) == (self.reserve_fractions is None):
            raise ValueError(ParameterError(
                "extra_real_per_class", "exactly one of extra_real_per_class and "
                "reserve_fractions", "both" if self.extra_real_per_class else "neither"))
        if not (self.extra_real_per_class or self.reserve_fractions):
            raise ValueError(ParameterError("extra_real_per_class", "a non-empty list", []))
        return self

    def counts(self, reserve: int) -> list[int]:
        """Extra real images per class of each curve arm, checked against the reserve."""
        if self.extra_real_per_class is not None:
            counts = list(self.extra_real_per_class)
            key = "ablations.real_curve.extra_real_per_class"
        else:
            counts = [max(1, int(fraction * reserve)) for fraction in self.reserve_fractions]
            key = "ablations.real_curve.reserve_fractions"
        if any(b <= a for a, b in itertools.pairwise(counts)):
            raise ParameterError(key, "strictly increasing numbers of real images per class",
                                 counts)
        if counts[-1] > reserve:
            raise ParameterError(key, f"at most data_processing.reserve_per_class = {reserve} "
                                 "real images per class (the curve draws them from "
                                 "real_reserve: raise reserve_per_class or lower the curve)",
                                 counts)
        return counts


class QualityVariants(Schema):
    """Extra arms at one grid cell, each changing more keys (e.g. `filter.mode`)."""

    # The cell: a value of every grid key.
    at: dict[str, Any]
    # Arm name -> dotted overrides on top of the cell's.
    arms: dict[ArmName, dict[str, Any]] = Field(default_factory=dict)


class QualityAblation(Schema):
    """A grid over parameters: `synthesis.*` keys make pools, per-arm keys make arms."""

    grid: Annotated[dict[str, Annotated[list[Any], Field(min_length=1)]], Field(min_length=1)]
    variants: QualityVariants | None = None


class AblationsParams(Schema):
    """Every declared ablation."""

    threshold: ThresholdAblation
    real_curve: RealCurve
    quality: QualityAblation
    data_size: DataSizeAblation


@dataclass(frozen=True)
class Cell:
    """One grid arm: its pool (None = the shared `synthetic_pool`) and its coordinates."""

    pool: str | None
    coordinates: dict[str, Any]


@dataclass(frozen=True)
class Declaration:
    """The declared ablations expanded into arm names, pools and per-arm overrides."""

    threshold: tuple[str, ...]
    curve: tuple[str, ...]
    cells: dict[str, Cell]
    variants: dict[str, str]  # variant arm -> the cell it is compared with
    pools: dict[str, Overrides]  # pool namespace -> synthesis overrides (shared pool left out)
    overrides: dict[str, Overrides] = field(default_factory=dict)  # declared arm -> overrides
    sizes: dict[str, SizeChain] = field(default_factory=dict)  # size namespace -> its chain

    @property
    def quality(self) -> tuple[str, ...]:
        """The quality ablation's arms: grid cells, then variants."""
        return (*self.cells, *self.variants)

    @property
    def all_arms(self) -> tuple[str, ...]:
        """Every arm namespace the project defines."""
        return (BASELINE, *self.threshold, *REUSING_ARMS, *self.curve, *self.quality,
                *self.size_arms)

    @property
    def size_arms(self) -> tuple[str, ...]:
        """The data-size ablation's arms, size by size."""
        return tuple(arm for chain in self.sizes.values() for arm in chain.arms)

    def ablation_arms(self) -> dict[str, tuple[str, ...]]:
        """The arms of each ablation's report, in table order (the curve arms last)."""
        return {
            "threshold": (BASELINE, *self.threshold, *self.curve),
            "training": (BASELINE, FILTERED_ARM, *REUSING_ARMS, *self.curve),
            QUALITY: (BASELINE, *self.quality),
            DATA_SIZE: self.size_arms,
        }

    def coordinates(self, arm: str) -> dict[str, Any]:
        """A quality arm's grid coordinates (a variant: its cell's plus its own keys)."""
        if arm in self.cells:
            return dict(self.cells[arm].coordinates)
        if arm in self.variants:
            return {**self.cells[self.variants[arm]].coordinates, "variant": arm}
        chain = next((c for c in self.sizes.values() if arm in c.arms), None)
        if chain is not None:
            return {"train_per_class": chain.per_class, "role": arm.rsplit("__", 1)[-1]}
        return {}

    def pool_of(self, arm: str) -> str | None:
        """The pool namespace a quality arm filters (None: the shared pool)."""
        cell = self.variants.get(arm, arm)
        return self.cells[cell].pool if cell in self.cells else None


def label(key: str, value: Any) -> str:
    """`synthesis.sampling.guidance_scale`, 1.5 -> `guidance_scale_1p5` (a namespace part)."""
    text = re.sub(r"[^A-Za-z0-9]", "_", str(value).replace(".", "p").replace("-", "m"))
    return f"{key.rsplit('.', 1)[-1]}_{text}"


def unflatten(dotted: Mapping[str, Any]) -> dict[str, Any]:
    """{"filter.drop_fraction": 0.2} -> {"filter": {"drop_fraction": 0.2}}."""
    tree: dict[str, Any] = {}
    for key, value in dotted.items():
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def expand(block: AblationsParams, reserve: int) -> Declaration:
    """Arm names, pools and overrides of the declared ablations (reserve: real images/class)."""
    if FILTERED_ARM not in block.threshold.arms:
        raise ParameterError("ablations.threshold.arms", f"arms including `{FILTERED_ARM}` (the "
                             "training ablation's joint arm)", sorted(block.threshold.arms))
    counts = block.real_curve.counts(reserve)
    curve = tuple(f"{CURVE_PREFIX}{i}" for i in range(1, len(counts) + 1))
    overrides: dict[str, Overrides] = {arm: dict(value)
                                       for arm, value in block.threshold.arms.items()}
    overrides.update({arm: {"training": {"strategy": "real_augmented",
                                         "extra_real_per_class": count}}
                      for arm, count in zip(curve, counts, strict=True)})
    cells, pools, variants = _expand_grid(block.quality, overrides)
    sizes = expand_sizes(block.data_size)
    for chain in sizes.values():
        overrides.update(size_overrides(block.data_size, chain))
    return Declaration(tuple(block.threshold.arms), curve, cells, variants, pools, overrides,
                       sizes)


def _expand_grid(quality: QualityAblation, overrides: dict[str, Overrides]
                 ) -> tuple[dict[str, Cell], dict[str, Overrides], dict[str, str]]:
    """Grid cells (arms), their pools and the variant arms; fills `overrides` for each arm."""
    keys = list(quality.grid)
    pool_keys = [key for key in keys if key.startswith("synthesis.")]
    cells: dict[str, Cell] = {}
    pools: dict[str, Overrides] = {}
    for values in itertools.product(*(quality.grid[key] for key in keys)):
        point = dict(zip(keys, values, strict=True))
        pool_point = {key: point[key] for key in pool_keys}
        pool = "_".join([f"{QUALITY}_pool", *(label(k, v) for k, v in pool_point.items())])
        pools[pool] = unflatten(pool_point)
        name = "__".join([QUALITY, *(label(k, v) for k, v in point.items())])
        overrides[name] = {**unflatten({k: v for k, v in point.items() if k not in pool_keys}),
                           "training": {"strategy": "joint"}}
        cells[name] = Cell(pool, point)
    variants: dict[str, str] = {}
    if quality.variants is not None:
        at = quality.variants.at
        cell = next((n for n, c in cells.items() if c.coordinates == at), None)
        if cell is None or set(at) != set(keys):
            raise ParameterError("ablations.quality.variants.at",
                                 f"a value of every grid key ({', '.join(keys)}) on the grid", at)
        for arm, dotted in quality.variants.arms.items():
            if any(key.startswith("synthesis.") for key in dotted):
                raise ParameterError(f"ablations.quality.variants.arms.{arm}",
                                     "per-arm keys (filter.*, training.*, evaluation.*)", dotted)
            overrides[arm] = deep_merge(overrides[cell], unflatten(dotted))
            variants[arm] = cell
    return cells, pools, variants

