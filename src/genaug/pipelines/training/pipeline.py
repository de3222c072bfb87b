"""Training pipeline: the per-arm classifier template and the extra-real-image templates of the
real-augmentation arms (arms are built in `pipelines/ablations`)."""

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.training.nodes import (
    extra_real_like,
    extra_real_per_class,
    train_classifier,
)


def create_template() -> Pipeline:
    """Per-arm template: train `classifier` and `training_history` from real (+synthetic) data."""
    return Pipeline(
        [
            Node(
                func=train_classifier,
                inputs=["real_train", "class_names", "synthetic_kept", "params:training",
                        "params:seed", "params:device"],
                outputs=["classifier", "training_history"],
                name="train_classifier",
                tags=["training"],
            )
        ]
    )


def create_matched_real_template() -> Pipeline:
    """Per-arm template: `extra_real`, as many real images per class as `synthetic_kept` holds."""
    return Pipeline([Node(extra_real_like,
                          ["real_reserve", "synthetic_kept", "class_names", "params:seed"],
                          "extra_real", name="draw_extra_real", tags=["training"])])


def create_curve_real_template() -> Pipeline:
    """Per-arm template: `extra_real`, `training.extra_real_per_class` real images per class."""
    return Pipeline([Node(extra_real_per_class,
                          ["real_reserve", "class_names", "params:training", "params:seed"],
                          "extra_real", name="draw_extra_real", tags=["training"])])
