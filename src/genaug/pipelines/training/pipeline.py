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
    """`training`: the template under namespace `baseline` (real_only; synthetic input unused).

    The arm's synthetic input is mapped to `synthetic_pool` (loaded but ignored by real_only) and
    its overrides to `params:training_baseline_overrides` (strategy real_only).
    """
    return Pipeline(
        create_template(),
        namespace="baseline",
        inputs={"real_train": "real_train", "real_reserve": "real_reserve",
                "class_names": "class_names", "synthetic_kept": "synthetic_pool"},
        parameters={"params:training": "params:training",
                    "params:training_overrides": "params:training_baseline_overrides",
                    "params:seed": "params:seed", "params:device": "params:device"},
    )
