"""Ablation arms: one stage template instantiated per arm namespace."""

from __future__ import annotations

from collections.abc import Mapping

from kedro.pipeline import Pipeline

from genaug.pipelines import evaluation, training
from genaug.schemas.ablations import BASELINE
from genaug.schemas.project import ARM_STAGES

__all__ = ["BASELINE", "SHARED_DATASETS", "arm_pipeline", "train_and_evaluate",
           "train_and_evaluate_on_extra_real"]
# Datasets every arm reads under their global names (made once by the shared stages).
SHARED_DATASETS = frozenset({
    "real_train", "real_reserve", "real_test", "class_names",
    "synthetic_pool", "synthetic_scores", "evaluator", "fid_reference_stats",
})
SHARED_PARAMS = ("params:seed", "params:device")


def arm_pipeline(template: Pipeline, arm: str, inputs: Mapping[str, str] | None = None
                 ) -> Pipeline:
    """Instantiate a stage template as arm `arm`.

    Shared datasets and `params:seed`/`params:device` keep their global names; every per-arm
    stage block `params:<stage>` becomes the arm's effective block `params:<arm>.<stage>` (the
    stage defaults deep-merged with the arm's keys, put in the catalog by
    `genaug.hooks.ParameterSchemaHook`). `inputs` maps further template inputs (e.g.
    `synthetic_kept` to another arm's); every other dataset is prefixed with the arm.
    """
    free = template.inputs()
    mapping = {name: name for name in free & SHARED_DATASETS}
    mapping.update(inputs or {})
    params = {name: name for name in SHARED_PARAMS if name in free}
    params.update({f"params:{stage}": f"params:{arm}.{stage}" for stage in ARM_STAGES
                   if f"params:{stage}" in free})
    return Pipeline(template, namespace=arm, inputs=mapping, parameters=params, tags=[arm])


def train_and_evaluate() -> Pipeline:
    """The per-arm template of an arm that trains and evaluates a classifier."""
    return training.create_template() + evaluation.create_template()


def train_and_evaluate_on_extra_real() -> Pipeline:
    """The train-and-evaluate template fed the arm's `extra_real` images instead of synthetic."""
    return Pipeline(train_and_evaluate(), inputs={"synthetic_kept": "extra_real"})
