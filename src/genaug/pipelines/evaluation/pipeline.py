"""Evaluation pipeline: the shared `evaluator` network and the per-arm metrics template."""

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.evaluation.nodes import (
    evaluate_classifier,
    fid_reference_statistics,
    train_evaluator,
)


def create_template() -> Pipeline:
    """Per-arm template: `metrics` (top-1 on real_test, FID/IS of synthetic_kept)."""
    return Pipeline(
        [
            Node(
                func=evaluate_classifier,
                inputs=["classifier", "training_history", "synthetic_kept", "real_test",
                        "real_train", "real_reserve", "evaluator", "fid_reference_stats",
                        "class_names", "params:evaluation", "params:training", "params:seed",
                        "params:device"],
                outputs="metrics",
                name="evaluate_classifier",
                tags=["evaluation", "gpu"],  # "gpu": claims a GPU under the DaskRunner
            )
        ]
    )


def create_pipeline(**kwargs) -> Pipeline:
    """`evaluation`: the shared evaluator network (trained once on real_reserve + real_train)
    and the FID reference's feature statistics (computed once for every arm)."""
    return Pipeline(
        [
            Node(
                func=train_evaluator,
                inputs=["real_train", "real_reserve", "real_test", "class_names",
                        "params:evaluation", "params:seed", "params:device"],
                outputs="evaluator",
                name="train_evaluator",
                tags=["evaluation", "gpu"],
            ),
            Node(
                func=fid_reference_statistics,
                inputs=["real_test", "real_train", "real_reserve", "evaluator", "class_names",
                        "params:evaluation", "params:seed", "params:device"],
                outputs="fid_reference_stats",
                name="fid_reference_statistics",
                tags=["evaluation", "gpu"],
            ),
        ],
        namespace="evaluation",
        prefix_datasets_with_namespace=False,
    )
