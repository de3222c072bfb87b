"""Synthesis pipeline: generator -> sharded synthetic pool -> sample grid."""

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.synthesis.nodes import (
    generate_synthetic_pool,
    plot_generator_samples,
    train_generator,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Build the synthesis pipeline: nodes grouped as "synthesis.*", datasets keep their names."""
    return Pipeline(
        [
            Node(
                func=train_generator,
                inputs=["real_train", "class_names", "params:synthesis", "params:seed",
                        "params:device"],
                outputs="generator",
                name="train_generator",
            ),
            Node(
                func=generate_synthetic_pool,
                inputs=["generator", "real_train", "class_names", "params:synthesis",
                        "params:seed", "params:device"],
                outputs="synthetic_pool",
                name="generate_synthetic_pool",
            ),
            Node(
                func=plot_generator_samples,
                inputs=["synthetic_pool", "real_train", "class_names", "params:synthesis"],
                outputs="generator_samples_grid",
                name="plot_generator_samples",
            ),
        ],
        tags=["synthesis"],
        namespace="synthesis",
        prefix_datasets_with_namespace=False,
    )
