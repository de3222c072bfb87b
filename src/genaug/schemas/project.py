"""The whole parameter tree validated at once: stage blocks, per-arm blocks, cross-stage checks."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from genaug.common.device import resolve_device
from genaug.common.validation import ParameterError
from genaug.schemas.ablations import FIXED_ARMS, AblationsParams, Declaration, expand
from genaug.schemas.base import Schema, deep_merge, parse
from genaug.schemas.data_processing import DataProcessingParams
from genaug.schemas.data_size import DataSizeAblation
from genaug.schemas.evaluation import EvaluationParams
from genaug.schemas.filtering import FilteringParams, FilterParams
from genaug.schemas.generator_report import GeneratorReportParams
from genaug.schemas.reporting import AblationReport, ReportingParams
from genaug.schemas.synthesis import SynthesisParams
from genaug.schemas.training import TrainingParams

# Shared stage blocks: `params:<stage>`.
STAGES: dict[str, type[Schema]] = {
    "data_processing": DataProcessingParams,
    "synthesis": SynthesisParams,
    "filtering": FilteringParams,
    "reporting": ReportingParams,
    "generator_report": GeneratorReportParams,
}
# Per-arm stage blocks: the defaults `params:<stage>` deep-merged with `params:<arm>.<stage>`.
ARM_STAGES: dict[str, type[Schema]] = {
    "filter": FilterParams,
    "training": TrainingParams,
    "evaluation": EvaluationParams,
}
SCALARS = ("seed", "device")


@dataclass(frozen=True)
class ValidatedParameters:
    """Typed blocks by catalog name (`params:synthesis`, `params:drop_10.training`, ...)."""

    blocks: dict[str, Schema] = field(default_factory=dict)
    scalars: dict[str, Any] = field(default_factory=dict)
    declaration: Declaration | None = None

    def tree(self) -> dict[str, Any]:
        """The parameter tree with every block typed and every arm's blocks effective."""
        tree: dict[str, Any] = dict(self.scalars)
        for name, block in self.blocks.items():
            *arm, stage = name.removeprefix("params:").split(".")
            (tree.setdefault(arm[0], {}) if arm else tree)[stage] = block
        return tree

    def arm_blocks(self) -> dict[str, Schema]:
        """Only the per-arm effective blocks (`params:<arm>.<stage>`)."""
        return {name: block for name, block in self.blocks.items()
                if name.removeprefix("params:").count(".") == 1}


def validate_parameters(params: Mapping[str, Any]) -> ValidatedParameters:
    """Validate every block of the loaded parameters; raise ParameterError on the first bad key.

    The arms are the fixed ones (`baseline`, `sequential`, `real_augmented`) and those the
    `ablations` block declares (`genaug.schemas.ablations`): any other top-level key is unknown.
    Every arm gets every per-arm stage block (its declared keys, then its own top-level block,
    or the defaults alone); every grid pool gets its effective `synthesis` block.
    """
    seed = params.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError("seed", "an integer >= 0", seed)
    resolve_device(params.get("device"))
    blocks: dict[str, Schema] = {}
    for stage, schema in {**STAGES, **ARM_STAGES}.items():
        blocks[f"params:{stage}"] = parse(schema, params.get(stage), stage)
    shape = blocks["params:data_processing"].image_shape_tuple()
    for stage in STAGES.keys() | ARM_STAGES.keys():
        _check_shape(blocks[f"params:{stage}"], shape, stage)
    ablations = parse(AblationsParams, params.get("ablations"), "ablations")
    blocks["params:ablations"] = ablations
    declaration = expand(ablations, blocks["params:data_processing"].reserve_per_class)
    arms = list(declaration.all_arms)
    _check_top_level(params, [*FIXED_ARMS, *declaration.overrides])
    for arm in arms:
        _arm_blocks(params, arm, declaration, shape, blocks)
    declaration = _pool_blocks(params, declaration, shape, blocks)
    _size_blocks(params, declaration, shape, blocks)
    sized = set(declaration.size_arms)
    _check_curve(blocks, [arm for arm in arms if arm not in sized], list(declaration.curve),
                 blocks["params:data_processing"].reserve_per_class,
                 "data_processing.reserve_per_class")
    for name, chain in declaration.sizes.items():
        _check_curve(blocks, list(chain.arms), list(chain.curve), chain.extra_per_class[-1],
                     f"{name}.data_processing.reserve_per_class")
    _check_reports(blocks["params:reporting"], declaration.ablation_arms())
    return ValidatedParameters(blocks, {key: params.get(key) for key in SCALARS}, declaration)


def _arm_blocks(params: Mapping[str, Any], arm: str, declaration: Declaration,
                shape: tuple[int, int, int], blocks: dict[str, Schema]) -> None:
    """The arm's effective blocks: stage defaults < declared overrides < its top-level block."""
    own = params.get(arm) or {}
    if not isinstance(own, Mapping):
        raise ParameterError(arm, f"a mapping of per-arm blocks ({', '.join(ARM_STAGES)})", own)
    declared = declaration.overrides.get(arm, {})
    for key in {**declared, **own}:
        if key not in ARM_STAGES:
            where = f"{arm}.{key}" if key in own else _declared_key(arm, key, declaration)
            raise _unknown(where, key, ARM_STAGES)
    for stage, schema in ARM_STAGES.items():
        merged = deep_merge(deep_merge(params.get(stage), declared.get(stage)), own.get(stage))
        try:
            block = parse(schema, merged, f"{arm}.{stage}")
        except ParameterError as error:
            if arm in declaration.size_arms:
                raise _size_error(error) from None
            if arm not in declaration.quality:
                raise
            raise _grid_error(error, declaration) from None
        _check_shape(block, shape, f"{arm}.{stage}")
        blocks[f"params:{arm}.{stage}"] = block


def _declared_key(arm: str, key: str, declaration: Declaration) -> str:
    """Where a declared arm's key was written, for an error message."""
    if arm in declaration.quality:
        return f"ablations.quality.grid.{key}"
    return f"ablations.threshold.arms.{arm}.{key}"


def _grid_error(error: ParameterError, declaration: Declaration) -> ParameterError:
    """A grid cell's invalid block, named by the grid key that made it."""
    dotted = error.parameter.split(".", 1)[1]
    keys = {key for cell in declaration.cells.values() for key in cell.coordinates}
    key = next((k for k in keys if dotted.startswith(k) or k.startswith(dotted)), dotted)
    return ParameterError(f"ablations.quality.grid.{key}", error.expected, error.got)


def _size_error(error: ParameterError) -> ParameterError:
    """A data-size arm's invalid block, named by the `ablations.data_size` key that set it."""
    leaf = error.parameter.rsplit(".", 1)[-1]
    if leaf in DataSizeAblation.model_fields:
        return ParameterError(f"ablations.data_size.{leaf}", error.expected, error.got)
    return error


def _size_blocks(params: Mapping[str, Any], declaration: Declaration,
                 shape: tuple[int, int, int], blocks: dict[str, Schema]) -> None:
    """Each base size's `data_processing` and `synthesis` blocks (generator steps by the
    declared rule) and each of its pools' `synthesis` block (its multiple of the real images)."""
    rule = blocks["params:ablations"].data_size.generator_steps
    default = blocks["params:synthesis"]
    reference = blocks["params:data_processing"].train_per_class
    for name, chain in declaration.sizes.items():
        split = {"train_per_class": chain.per_class,
                 "reserve_per_class": chain.extra_per_class[-1]}
        blocks[f"params:{name}.data_processing"] = parse(
            DataProcessingParams, deep_merge(params.get("data_processing"), split),
            f"{name}.data_processing")
        own: dict[str, Any] = {}
        if default.train is not None:
            own["train"] = {"steps": rule.steps(chain.per_class, default.train.steps, reference)}
        sized = {name: own, **{pool: {**own, "pool": {"per_class": None, "multiple_of_real": m}}
                               for pool, m in chain.pool_multiples.items()}}
        for namespace, overrides in sized.items():
            block = parse(SynthesisParams, deep_merge(params.get("synthesis"), overrides),
                          f"{namespace}.synthesis")
            _check_shape(block, shape, f"{namespace}.synthesis")
            blocks[f"params:{namespace}.synthesis"] = block


def _pool_blocks(params: Mapping[str, Any], declaration: Declaration,
                 shape: tuple[int, int, int], blocks: dict[str, Schema]) -> Declaration:
    """Each grid pool's effective `synthesis` block; a pool equal to the default is the shared
    `synthetic_pool` (sampled once), so its cells name no pool of their own."""
    default = blocks["params:synthesis"]
    pools = {}
    for pool, overrides in declaration.pools.items():
        unknown = [key for key in overrides if key != "synthesis"]
        if unknown:
            raise _unknown(f"ablations.quality.grid.{unknown[0]}", unknown[0],
                           ["synthesis", *ARM_STAGES])
        merged = deep_merge(params.get("synthesis"), overrides.get("synthesis"))
        try:
            block = parse(SynthesisParams, merged, f"{pool}.synthesis")
        except ParameterError as error:
            raise _grid_error(error, declaration) from None
        _check_shape(block, shape, f"{pool}.synthesis")
        if block != default:
            pools[pool] = overrides
            blocks[f"params:{pool}.synthesis"] = block
    cells = {arm: replace(cell, pool=cell.pool if cell.pool in pools else None)
             for arm, cell in declaration.cells.items()}
    return replace(declaration, cells=cells, pools=pools)


def _check_curve(blocks: Mapping[str, Schema], arms: list[str], curve_arms: list[str],
                 reserve: int, reserve_key: str) -> None:
    """Curve arms add strictly increasing real images per class that their real_reserve
    (`reserve` per class, set by `reserve_key`) holds; no other arm sets
    `extra_real_per_class`."""
    previous = 0
    for arm in arms:
        training = blocks[f"params:{arm}.training"]
        count = training.extra_real_per_class
        key = f"{arm}.training.extra_real_per_class"
        if arm not in curve_arms:
            if count is not None:
                raise ParameterError(key, "null (only the real-augmentation curve arms "
                                     f"{', '.join(curve_arms)} add real images per class)", count)
            continue
        if training.strategy != "real_augmented":
            raise ParameterError(f"{arm}.training.strategy",
                                 "real_augmented (a real-augmentation curve arm)",
                                 training.strategy)
        if count is None or count <= previous:
            raise ParameterError(key, f"a number of real images per class above {previous} (the "
                                 f"curve arms {', '.join(curve_arms)} add strictly increasing "
                                 "numbers)", count)
        if count > reserve:
            raise ParameterError(reserve_key,
                                 f"at least {count} ({arm} adds {count} real images per class "
                                 "from real_reserve)", reserve)
        previous = count


def _check_reports(reporting: Schema, ablation_arms: Mapping[str, Sequence[str]]) -> None:
    """Each report's labels and comparisons name arms of that ablation."""
    for ablation, arms in ablation_arms.items():
        report = getattr(reporting, ablation)
        if not isinstance(report, AblationReport):
            continue  # the data-size report tests each size's arms against its own baseline
        for arm in report.labels:
            if arm not in arms:
                raise ParameterError(f"reporting.{ablation}.labels",
                                     f"arms of the {ablation} ablation ({', '.join(arms)})", arm)
        for pair in report.comparisons:
            if any(arm not in arms for arm in pair) or pair[0] == pair[1]:
                raise ParameterError(f"reporting.{ablation}.comparisons",
                                     f"pairs of two different arms of the {ablation} ablation "
                                     f"({', '.join(arms)})", pair)


def _check_top_level(params: Mapping[str, Any], arms: list[str]) -> None:
    """Every top-level key is a scalar, a stage block or a defined arm."""
    known = [*SCALARS, *STAGES, *ARM_STAGES, "ablations", *arms]
    for key in params:
        if key not in known:
            raise _unknown(key, key, known)


def _unknown(path: str, key: str, known: Iterable[str]) -> ParameterError:
    """A ParameterError for an unknown key, suggesting the closest known one."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
    hint = f" (did you mean `{close[0]}`?)" if close else f"; valid keys: {', '.join(known)}"
    return ParameterError(path, f"a known key{hint}", key, message=f"unknown key{hint}.")


def _check_shape(block: Schema, shape: tuple[int, int, int], prefix: str) -> None:
    """Run a block's image-shape checks, naming the key under `prefix`."""
    check = getattr(block, "check_image_shape", None)
    if check is None:
        return
    try:
        check(shape)
    except ParameterError as exc:
        raise ParameterError(f"{prefix}.{exc.parameter}", exc.expected, exc.got) from None
