"""Ablation arms: one stage template instantiated per arm namespace, errors naming the arm."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from kedro.pipeline import Pipeline

from genaug.common.validation import ParameterError

STAGES = ("filter", "training", "evaluation")
SHARED_DATASETS = frozenset({
    "real_train", "real_reserve", "real_test", "class_names",
    "synthetic_pool", "synthetic_scores", "evaluator",
})
SHARED_PARAMS = ("params:seed", "params:device")


class ArmError(ValueError):
    """A node of an ablation arm failed on bad input; the message starts with the arm."""


class _InArm:
    """Call a node function and re-raise its input errors with the arm's name in front."""

    def __init__(self, func: Callable[..., Any], arm: str) -> None:
        self.func = func
        self.arm = arm
        functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.func(*args, **kwargs)
        except ParameterError as exc:
            raise ParameterError(f"{self.arm}.{exc.parameter}", *_split(exc)) from exc
        except ValueError as exc:
            if isinstance(exc, ArmError):
                raise
            raise ArmError(f"Arm '{self.arm}': {exc}") from exc


def _split(exc: ParameterError) -> tuple[str, Any]:
    """Recover (expected, got) from a ParameterError so it can be re-raised with a prefix."""
    return exc.expected, exc.got


def arm_pipeline(template: Pipeline, arm: str,
                 inputs: dict[str, str] | Iterable[str] = ()) -> Pipeline:
    """Instantiate a stage template as arm `arm`.

    Shared datasets and `params:seed`/`params:device` keep their global names; every
    `params:<stage>` stays the shared default and `params:<stage>_overrides` becomes
    `params:<arm>.<stage>`. `inputs` maps further template inputs (e.g. `synthetic_kept`
    of another arm); everything else is prefixed with the arm.
    """
    wrapped = Pipeline([n._copy(func=_InArm(n.func, arm)) for n in template.nodes])
    free = wrapped.inputs()
    mapping = dict(inputs) if isinstance(inputs, dict) else {name: name for name in inputs}
    mapping.update({name: name for name in free & SHARED_DATASETS if name not in mapping})
    params = {p: p for p in SHARED_PARAMS if p in free}
    for stage in STAGES:
        if f"params:{stage}" in free:
            params[f"params:{stage}"] = f"params:{stage}"
        if f"params:{stage}_overrides" in free:
            params[f"params:{stage}_overrides"] = f"params:{arm}.{stage}"
    return Pipeline(wrapped, namespace=arm, inputs=mapping, parameters=params,
                    tags=[arm])


def stage_templates(*stages: str) -> Pipeline:
    """The per-arm templates of the named stages (`filter`, `training`, `evaluation`), joined."""
    from genaug.pipelines.evaluation import create_template as evaluation_template
    from genaug.pipelines.filtering import create_template as filter_template
    from genaug.pipelines.training import create_template as training_template

    builders = {"filter": filter_template, "training": training_template,
                "evaluation": evaluation_template}
    return sum((builders[stage]() for stage in stages), Pipeline([]))


def baseline_arm() -> Pipeline:
    """The real-only `baseline` arm shared by every ablation.

    It trains without synthetic images; its FID/IS describe the unfiltered `synthetic_pool`
    (the 0 % point of the threshold curve).
    """
    return arm_pipeline(stage_templates("training", "evaluation"), "baseline",
                        inputs={"synthetic_kept": "synthetic_pool"})


def shared_stages() -> Pipeline:
    """The expensive shared work every ablation needs: data, generator, pool, scores, evaluator."""
    from genaug.pipelines.data_processing import create_pipeline as data_processing
    from genaug.pipelines.evaluation import create_pipeline as evaluation
    from genaug.pipelines.filtering import create_pipeline as filtering
    from genaug.pipelines.synthesis import create_pipeline as synthesis

    return data_processing() + synthesis() + filtering() + evaluation()
