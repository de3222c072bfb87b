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
from genaug.pipelines.arms import BASELINE, arm_pipeline
from genaug.pipelines.reporting import create_report_pipeline

# CLIP-filter threshold ablation: one joint-training arm per drop fraction
# (each has its block in conf/base/parameters_ablation_threshold.yml).
THRESHOLD_ARMS = ("drop_10", "drop_20", "drop_30")
# Training-strategy ablation: its joint-training arm *is* the threshold ablation's `drop_20`
# (the same filter and training settings, so it is computed once and labelled `joint` in the
# training report, `reporting.training.labels`); the other strategies train on its kept images.
FILTERED_ARM = "drop_20"
REUSING_ARMS = ("sequential", "real_augmented")
# The real-augmentation curve (the exchange rate's yardstick): arms adding increasing numbers of
# real images per class from real_reserve (`<arm>.training.extra_real_per_class`, strictly
# increasing along this tuple; the baseline is its 0 point). Pipelines are built before
# parameters are read, so the arms are named here and the loader checks the parameters agree.
REAL_CURVE_ARMS = tuple(f"real_curve_{i}" for i in range(1, 6))
# Every arm namespace the project defines (any other top-level parameter key is a typo).
ALL_ARMS = (BASELINE, *THRESHOLD_ARMS, *REUSING_ARMS, *REAL_CURVE_ARMS)
# The arms of each ablation's report, in table order (the curve arms as reference rows last).
ABLATION_ARMS: dict[str, tuple[str, ...]] = {
    "threshold": (BASELINE, *THRESHOLD_ARMS, *REAL_CURVE_ARMS),
    "training": (BASELINE, FILTERED_ARM, *REUSING_ARMS, *REAL_CURVE_ARMS),
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


def _train_and_evaluate_on_extra_real() -> Pipeline:
    """The train-and-evaluate template fed the arm's `extra_real` images instead of synthetic."""
    return Pipeline(_train_and_evaluate(), inputs={"synthetic_kept": "extra_real"})


def training_arms() -> Pipeline:
    """The joint-training arm (`drop_20`, shared with the threshold ablation), `sequential` on
    its kept images, and `real_augmented` adding as many real images as it keeps."""
    joint = arm_pipeline(filtering.create_template() + _train_and_evaluate(), FILTERED_ARM)
    reuse = {"synthetic_kept": f"{FILTERED_ARM}.synthetic_kept"}
    sequential = arm_pipeline(_train_and_evaluate(), "sequential", inputs=reuse)
    real = arm_pipeline(training.create_matched_real_template()
                        + _train_and_evaluate_on_extra_real(), "real_augmented", inputs=reuse)
    return joint + sequential + real


def real_curve_arms() -> Pipeline:
    """The real-augmentation curve: each arm adds `extra_real_per_class` real images per class."""
    template = training.create_curve_real_template() + _train_and_evaluate_on_extra_real()
    return sum((arm_pipeline(template, arm) for arm in REAL_CURVE_ARMS), Pipeline([]))


def threshold_report() -> Pipeline:
    """The threshold ablation's results table, comparisons, Markdown and plots."""
    return create_report_pipeline("threshold", [BASELINE, *THRESHOLD_ARMS],
                                  {arm: arm for arm in THRESHOLD_ARMS}, REAL_CURVE_ARMS)


def training_report() -> Pipeline:
    """The training ablation's results table, comparisons, Markdown and plots."""
    return create_report_pipeline("training", [BASELINE, FILTERED_ARM, *REUSING_ARMS],
                                  {arm: FILTERED_ARM for arm in (FILTERED_ARM, *REUSING_ARMS)},
                                  REAL_CURVE_ARMS)


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
    references = shared_stages() + baseline_arm() + real_curve_arms() + pool_report()
    threshold = references + threshold_arms() + threshold_report() + kept_fidelity("threshold")
    strategies = references + training_arms() + training_report() + kept_fidelity("training")
    return {
        "data_processing": data_processing.create_pipeline(),
        "synthesis": synthesis.create_pipeline(),
        "filtering": filtering.create_pipeline(),
        "evaluation": evaluation.create_pipeline(),
        "training": baseline_arm(),
        "ablation_threshold": threshold,
        "ablation_training": strategies,
        "reporting": threshold_report() + training_report(),
        # Shared stages, the baseline, the curve and drop_20 are the same nodes in both: they
        # run once.
        "__default__": threshold + strategies,
    }
