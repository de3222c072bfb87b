"""`kedro run --pipeline ablation_training`: joint vs sequential vs real-augmented training."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from genaug.pipelines.arms import arm_pipeline, baseline_arm, shared_stages, stage_templates
from genaug.pipelines.reporting import create_report_pipeline

# `joint` filters the pool (its block sets the drop fraction) and trains on real + kept images.
FILTERED_ARM = "joint"
# Arms trained on `joint`'s kept images; one block each in parameters_ablation_training.yml.
ARMS = ("sequential", "real_augmented")


def create_arms() -> Pipeline:
    """Baseline, the filtering `joint` arm and the arms that reuse its kept images."""
    joint = arm_pipeline(stage_templates("filter", "training", "evaluation"), FILTERED_ARM)
    reuse = {"synthetic_kept": f"{FILTERED_ARM}.synthetic_kept"}
    others = [arm_pipeline(stage_templates("training", "evaluation"), arm, inputs=reuse)
              for arm in ARMS]
    return baseline_arm() + joint + sum(others, Pipeline([]))


def create_report() -> Pipeline:
    """The training ablation's results table, Markdown, plot and MLflow metrics."""
    arms = ["baseline", FILTERED_ARM, *ARMS]
    return create_report_pipeline("training", arms,
                                  {arm: FILTERED_ARM for arm in (FILTERED_ARM, *ARMS)})


def create_pipeline(**kwargs) -> Pipeline:
    """Shared stages, the arms and the report."""
    return shared_stages() + create_arms() + create_report()
