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
from genaug.pipelines.arms import (
    BASELINE,
    arm_pipeline,
    train_and_evaluate,
    train_and_evaluate_on_extra_real,
)
from genaug.pipelines.data_size import data_size_ablation
from genaug.pipelines.quality import quality_ablation
from genaug.pipelines.reporting import create_report_pipeline
from genaug.schemas.ablations import FILTERED_ARM, REUSING_ARMS, Declaration

# The arms each ablation has come from the `ablations` parameter block (conf/base/
# parameters_ablations.yml, expanded by `genaug.schemas.ablations.expand`): the threshold arms
# (one joint-training arm each), the real-augmentation curve (`real_curve_<i>`, the exchange
# rate's yardstick) and the quality grid. The training ablation's joint arm *is* the threshold
# ablation's `drop_20` (computed once, labelled `joint` in the training report); its other
# strategies (`REUSING_ARMS`) train on drop_20's kept images.


def shared_stages() -> Pipeline:
    """The expensive shared work every ablation needs: data, generator, pool, scores, evaluator."""
    return (data_processing.create_pipeline() + synthesis.create_pipeline()
            + filtering.create_pipeline() + evaluation.create_pipeline())


def baseline_arm() -> Pipeline:
    """The real-only `baseline` arm shared by every ablation.

    It trains without synthetic images; its FID/IS describe the unfiltered `synthetic_pool`
    (the 0 % point of the threshold curve).
    """
    return arm_pipeline(train_and_evaluate(), BASELINE,
                        inputs={"synthetic_kept": "synthetic_pool"})


def threshold_arms(declaration: Declaration) -> Pipeline:
    """Filter → train → evaluate for every threshold arm."""
    template = filtering.create_template() + train_and_evaluate()
    return sum((arm_pipeline(template, arm) for arm in declaration.threshold), Pipeline([]))


def training_arms() -> Pipeline:
    """The joint-training arm (`drop_20`, shared with the threshold ablation), `sequential` on
    its kept images, and `real_augmented` adding as many real images as it keeps."""
    joint = arm_pipeline(filtering.create_template() + train_and_evaluate(), FILTERED_ARM)
    reuse = {"synthetic_kept": f"{FILTERED_ARM}.synthetic_kept"}
    sequential = arm_pipeline(train_and_evaluate(), "sequential", inputs=reuse)
    real = arm_pipeline(training.create_matched_real_template()
                        + train_and_evaluate_on_extra_real(), "real_augmented", inputs=reuse)
    return joint + sequential + real


def real_curve_arms(declaration: Declaration) -> Pipeline:
    """The real-augmentation curve: each arm adds `extra_real_per_class` real images per class."""
    template = training.create_curve_real_template() + train_and_evaluate_on_extra_real()
    return sum((arm_pipeline(template, arm) for arm in declaration.curve), Pipeline([]))


def threshold_report(declaration: Declaration) -> Pipeline:
    """The threshold ablation's results table, comparisons, Markdown and plots."""
    arms = declaration.threshold
    return create_report_pipeline("threshold", [BASELINE, *arms], {arm: arm for arm in arms},
                                  declaration.curve)


def training_report(declaration: Declaration) -> Pipeline:
    """The training ablation's results table, comparisons, Markdown and plots."""
    return create_report_pipeline("training", [BASELINE, FILTERED_ARM, *REUSING_ARMS],
                                  {arm: FILTERED_ARM for arm in (FILTERED_ARM, *REUSING_ARMS)},
                                  declaration.curve)


def pool_report() -> Pipeline:
    """The generator report of the pool (its CAS trains the baseline arm's classifier)."""
    return generator_report.create_pipeline(training=f"params:{BASELINE}.training")


def kept_fidelity(ablation: str, declaration: Declaration) -> Pipeline:
    """Label fidelity of the kept set of every arm with its own filter in an ablation."""
    filtered = declaration.threshold if ablation == "threshold" else (FILTERED_ARM,)
    return generator_report.create_kept_pipeline(
        ablation, {arm: f"{arm}.synthetic_kept" for arm in filtered})


def create_pipelines(declaration: Declaration) -> dict[str, Pipeline]:
    """Every registered pipeline by name, built from the declared ablations."""
    references = (shared_stages() + baseline_arm() + real_curve_arms(declaration)
                  + pool_report())
    threshold = (references + threshold_arms(declaration) + threshold_report(declaration)
                 + kept_fidelity("threshold", declaration))
    strategies = (references + training_arms() + training_report(declaration)
                  + kept_fidelity("training", declaration))
    quality = shared_stages() + baseline_arm() + pool_report() + quality_ablation(declaration)
    return {
        "data_processing": data_processing.create_pipeline(),
        "synthesis": synthesis.create_pipeline(),
        "filtering": filtering.create_pipeline(),
        "evaluation": evaluation.create_pipeline(),
        "training": baseline_arm(),
        "ablation_threshold": threshold,
        "ablation_training": strategies,
        "ablation_quality": quality,
        # Its own command (`kedro run --pipeline ablation_data_size`), not in `__default__`:
        # the chain once per base size takes about as long as the other three together.
        "ablation_data_size": (data_processing.create_pipeline() + evaluation.create_pipeline()
                               + data_size_ablation(declaration)),
        "reporting": threshold_report(declaration) + training_report(declaration),
        # Shared stages, the baseline, the curve and drop_20 are the same nodes in each: they
        # run once.
        "__default__": threshold + strategies + quality,
    }
