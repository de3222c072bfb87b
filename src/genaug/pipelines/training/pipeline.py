"""Training pipeline: the per-arm classifier template (arms are built in `pipelines/ablations`)."""

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.training.nodes import train_classifier


def create_template() -> Pipeline:
    """Per-arm template: train `classifier` and `training_history` from real (+synthetic) data."""
    return Pipeline(
        [
            Node(
                func=train_classifier,
                inputs=["real_train", "real_reserve", "class_names", "synthetic_kept",
                        "params:training", "params:seed", "params:device"],
                outputs=["classifier", "training_history"],
                name="train_classifier",
                tags=["training"],
            )
        ]
    )
