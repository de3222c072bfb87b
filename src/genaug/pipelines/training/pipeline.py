"""Training pipeline: the per-arm classifier template, and a real-only `baseline` instance."""

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.training.nodes import train_classifier


def create_template() -> Pipeline:
    """Per-arm template: train `classifier` and `training_history` from real (+synthetic) data."""
    return Pipeline(
        [
            Node(
                func=train_classifier,
                inputs=["real_train", "real_reserve", "class_names", "synthetic_kept",
                        "params:training", "params:training_overrides", "params:seed",
                        "params:device"],
                outputs=["classifier", "training_history"],
                name="train_classifier",
                tags=["training"],
            )
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """`training`: the template as the real-only `baseline` arm (as in both ablations).

    The arm's synthetic input is `synthetic_pool`, which real_only loads but ignores; its
    overrides are `params:baseline.training`.
    """
    from genaug.pipelines.arms import arm_pipeline

    return arm_pipeline(create_template(), "baseline", inputs={"synthetic_kept": "synthetic_pool"})
