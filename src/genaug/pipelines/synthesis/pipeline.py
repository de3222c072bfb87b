"""Synthesis pipeline: generator -> pool parts -> sharded synthetic pool -> sample grid."""

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.synthesis.nodes import (
    PoolPart,
    generate_synthetic_pool,
    plot_generator_samples,
    train_generator,
)

# The pool is made by this many independent part nodes (shards i, i + POOL_PARTS, ...), so up
# to POOL_PARTS workers sample at once and a lost worker costs one part. A constant, because a
# pipeline's nodes are fixed before parameters are read; changing it changes no image (shards
# are seeded one by one), only how the work is split.
POOL_PARTS = 8
# What the part nodes write (catalog factory "synthetic_pool_part_{part}": ShardedBundlePart).
POOL_PART_OUTPUTS = tuple(f"synthetic_pool_part_{index}" for index in range(POOL_PARTS))
_SAMPLING_INPUTS = ["generator", "real_train", "class_names", "params:synthesis", "params:seed",
                    "params:device"]


def _pool_nodes() -> list[Node]:
    """The part nodes and the node that publishes `synthetic_pool` from `generator`."""
    parts = [
        Node(
            func=PoolPart(index, POOL_PARTS).generate,
            inputs=_SAMPLING_INPUTS,
            outputs=name,
            name=f"generate_pool_part_{index}",
            tags=["gpu"],
        )
        for index, name in enumerate(POOL_PART_OUTPUTS)
    ]
    publish = Node(
        func=generate_synthetic_pool,
        inputs=[*_SAMPLING_INPUTS, *POOL_PART_OUTPUTS],
        outputs="synthetic_pool",
        name="generate_synthetic_pool",
        # Publishes what the parts staged, but samples any shard they did not.
        tags=["gpu"],
    )
    return [*parts, publish]


def _generator_node() -> Node:
    """Train (or load) the generator on `real_train`."""
    return Node(
        func=train_generator,
        inputs=["real_train", "class_names", "params:synthesis", "params:seed",
                "params:device", "generator_checkpoint"],
        outputs="generator",
        name="train_generator",
        tags=["gpu"],
        # Once the generator is saved, its training's checkpoints are deleted.
        confirms="generator_checkpoint",
    )


def create_generator_template() -> Pipeline:
    """Train a further generator on another `real_train` (a namespace per base size:
    `genaug.pipelines.data_size`)."""
    return Pipeline([_generator_node()], tags=["synthesis"])


def create_pool_template() -> Pipeline:
    """Sample a further pool from the shared `generator` (a namespace per pool, e.g. one per
    guidance scale: `genaug.pipelines.quality`)."""
    return Pipeline(_pool_nodes(), tags=["synthesis"])


def create_pipeline(**kwargs) -> Pipeline:
    """Build the synthesis pipeline: nodes grouped as "synthesis.*", datasets keep their names.

    Nodes tagged "gpu" want an accelerator (`genaug.runner.DaskRunner` gives each one GPU).
    """
    return Pipeline(
        [
            _generator_node(),
            *_pool_nodes(),
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
