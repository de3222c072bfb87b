"""Check every parameter a pipeline will use before its first node runs.

Each node validates its own parameters too; this runs the same checks up front so that a bad
value in, say, the last ablation arm fails in seconds instead of after the generator trained.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kedro.pipeline import Pipeline

from genaug.common.device import resolve_device
from genaug.common.params import merge_params
from genaug.common.validation import ParameterError, check_int
from genaug.pipelines.arms import STAGES
from genaug.pipelines.data_processing.nodes import check_data_processing_params
from genaug.pipelines.evaluation.nodes import check_evaluation_params
from genaug.pipelines.filtering.nodes import check_filter_params, check_filtering_params
from genaug.pipelines.synthesis.nodes import validate_params as check_synthesis_params
from genaug.pipelines.training.nodes import check_training_params

# Shared stage parameters: `params:<key>` -> check.
SHARED: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "data_processing": check_data_processing_params,
    "synthesis": check_synthesis_params,
    "filtering": check_filtering_params,
}

# Per-arm stage parameters: defaults `params:<stage>` merged with `params:<arm>.<stage>`.
PER_ARM: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any] | None], Any]] = {
    "filter": check_filter_params,
    "training": lambda defaults, arm: check_training_params(merge_params(defaults, arm)),
    "evaluation": lambda defaults, arm: check_evaluation_params(merge_params(defaults, arm)),
}
assert set(PER_ARM) == set(STAGES)


def check_pipeline_parameters(pipeline: Pipeline, load: Callable[[str], Any]) -> None:
    """Validate every `params:` input of the pipeline's nodes; raise ParameterError on the first
    bad value, naming it (with the arm for per-arm parameters)."""
    names = {name for node in pipeline.nodes for name in node.inputs
             if name.startswith("params:")}
    if "params:seed" in names:
        check_int(load("params:seed"), "seed", minimum=0)
    if "params:device" in names:
        resolve_device(load("params:device"))
    for key, check in SHARED.items():
        if f"params:{key}" in names:
            check(load(f"params:{key}"))
    for name in sorted(names):
        arm, _, stage = name.removeprefix("params:").rpartition(".")
        if not arm or stage not in PER_ARM or f"params:{stage}" not in names:
            continue
        try:
            PER_ARM[stage](load(f"params:{stage}"), load(name))
        except ParameterError as exc:
            raise ParameterError(f"{arm}.{exc.parameter}", exc.expected, exc.got) from exc
