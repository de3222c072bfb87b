"""The one place that composes: shared stages, the baseline, each ablation's arms and reports.

Stage modules only define their own nodes and per-arm templates; everything that combines them
(and so imports several of them) lives here, so no stage imports another and nothing circles.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from genaug.pipelines import (
    data_processing,
    evaluation,
    filtering,
    generator_report,
    synthesis,
    training,
)
from genaug.pipelines.arms import arm_pipeline
from genaug.pipelines.reporting import create_report_pipeline

BASELINE = "baseline"
# CLIP-filter threshold ablation: one joint-training arm per drop fraction
# (each has its block in conf/base/parameters_ablation_threshold.yml).
THRESHOLD_ARMS = ("drop_10", "drop_20", "drop_30")
# Training-strategy ablation: `joint` filters the pool; the others train on its kept images.
FILTERED_ARM = "joint"
REUSING_ARMS = ("sequential", "real_augmented")
# Every arm namespace the project defines (any other top-level parameter key is a typo).
ALL_ARMS = (BASELINE, *THRESHOLD_ARMS, FILTERED_ARM, *REUSING_ARMS)
# The arms of each ablation's report, in table order.
ABLATION_ARMS: dict[str, tuple[str, ...]] = {
    "threshold": (BASELINE, *THRESHOLD_ARMS),
    "training": (BASELINE, FILTERED_ARM, *REUSING_ARMS),
}


def shared_stages() -> Pipeline:
    """The expensive shared work every ablation needs: data, generator, pool, scores, evaluator."""
    return (data_processing.create_pipeline() + synthesis.create_pipeline()
            + filtering.create_pipeline() + evaluation.create_pipeline())


def _train_and_evaluate() -> Pipeline:
    """The per-arm template of an arm that trains and evaluates a classifier."""
    return training.create_template() + evaluation.create_template()


def baseline_arm() -> Pipeline:
    """The real-only `baseline` arm shared by every ablation.

    It trains without synthetic images; its FID/IS describe the unfiltered `synthetic_pool`
    (the 0 % point of the threshold curve).
    """
    return arm_pipeline(_train_and_evaluate(), BASELINE,
                        inputs={"synthetic_kept": "synthetic_pool"})


def threshold_arms() -> Pipeline:
    """Filter → train → evaluate for every threshold arm."""
    template = filtering.create_template() + _train_and_evaluate()
    return sum((arm_pipeline(template, arm) for arm in THRESHOLD_ARMS), Pipeline([]))


def training_arms() -> Pipeline:
    """The filtering `joint` arm and the arms that reuse its kept images."""
    joint = arm_pipeline(filtering.create_template() + _train_and_evaluate(), FILTERED_ARM)
    reuse = {"synthetic_kept": f"{FILTERED_ARM}.synthetic_kept"}
    others = [arm_pipeline(_train_and_evaluate(), arm, inputs=reuse) for arm in REUSING_ARMS]
    return joint + sum(others, Pipeline([]))


def threshold_report() -> Pipeline:
    """The threshold ablation's results table, Markdown, plot and MLflow metrics."""
    return create_report_pipeline("threshold", list(ABLATION_ARMS["threshold"]),
                                  {arm: arm for arm in THRESHOLD_ARMS})


def training_report() -> Pipeline:
    """The training ablation's results table, Markdown, plot and MLflow metrics."""
    return create_report_pipeline("training", list(ABLATION_ARMS["training"]),
                                  {arm: FILTERED_ARM for arm in (FILTERED_ARM, *REUSING_ARMS)})


def pool_report() -> Pipeline:
    """The generator report of the pool (its CAS trains the baseline arm's classifier)."""
    return generator_report.create_pipeline(training=f"params:{BASELINE}.training")


def kept_fidelity(ablation: str) -> Pipeline:
    """Label fidelity of the kept set of every arm with its own filter in an ablation."""
    filtered = THRESHOLD_ARMS if ablation == "threshold" else (FILTERED_ARM,)
    return generator_report.create_kept_pipeline(
        ablation, {arm: f"{arm}.synthetic_kept" for arm in filtered})


def create_pipelines() -> dict[str, Pipeline]:
    """Every registered pipeline by name."""
    threshold = (shared_stages() + baseline_arm() + threshold_arms() + threshold_report()
                 + pool_report() + kept_fidelity("threshold"))
    strategies = (shared_stages() + baseline_arm() + training_arms() + training_report()
                  + pool_report() + kept_fidelity("training"))
    return {
        "data_processing": data_processing.create_pipeline(),
        "synthesis": synthesis.create_pipeline(),
        "filtering": filtering.create_pipeline(),
        "evaluation": evaluation.create_pipeline(),
        "training": baseline_arm(),
        "ablation_threshold": threshold,
        "ablation_training": strategies,
        "reporting": threshold_report() + training_report(),
        # Shared stages and the baseline are the same nodes in both: they run once.
        "__default__": threshold + strategies,
    }
