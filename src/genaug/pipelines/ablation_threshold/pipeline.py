"""`kedro run --pipeline ablation_threshold`: drop the bottom 10/20/30 % by CLIP score."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from genaug.pipelines.arms import arm_pipeline, baseline_arm, shared_stages, stage_templates
from genaug.pipelines.reporting import create_report_pipeline

# One namespace per drop fraction; each has its block in parameters_ablation_threshold.yml.
ARMS = ("drop_10", "drop_20", "drop_30")


def create_arms() -> Pipeline:
    """Baseline plus filter → train → evaluate for every threshold arm."""
    template = stage_templates("filter", "training", "evaluation")
    return baseline_arm() + sum((arm_pipeline(template, arm) for arm in ARMS), Pipeline([]))


def create_report() -> Pipeline:
    """The threshold ablation's results table, Markdown, plot and MLflow metrics."""
    return create_report_pipeline("threshold", ["baseline", *ARMS], {arm: arm for arm in ARMS})


def create_pipeline(**kwargs) -> Pipeline:
    """Shared stages, the arms and the report."""
    return shared_stages() + create_arms() + create_report()
