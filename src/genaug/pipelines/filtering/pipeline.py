"""Filtering: shared CLIP training + pool scoring, and a per-arm filter template."""

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.filtering.nodes import (
    evaluate_clip,
    filter_pool,
    plot_filter_grid,
    score_pool,
    train_clip,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Shared nodes: train (or load) the CLIP, score the pool once, report CLIP sanity metrics.

    Namespaced "filtering" so kedro-viz collapses them into one super-node; datasets and
    parameters keep their global names.
    """
    return Pipeline(
        [
            _clip_node(),
            _score_node(),
            Node(
                func=evaluate_clip,
                inputs=["clip_model", "real_test", "class_names", "clip_training_log",
                        "params:filtering", "params:device"],
                outputs="clip_report",
                name="evaluate_clip",
                tags=["filtering"],
            ),
        ],
        namespace="filtering",
        prefix_datasets_with_namespace=False,
    )


def _clip_node() -> Node:
    """Train (or load) the CLIP on `real_train`'s image-caption pairs."""
    return Node(func=train_clip,
                inputs=["real_train", "class_names", "params:filtering", "params:seed",
                        "params:device", "clip_checkpoint"],
                outputs=["clip_model", "clip_training_log"],
                name="train_clip",
                tags=["filtering"],
                # Once the CLIP and its log are saved, its training's checkpoints are deleted.
                confirms="clip_checkpoint")


def create_clip_template() -> Pipeline:
    """Train a further CLIP on another `real_train` (a namespace per base size)."""
    return Pipeline([_clip_node()])


def _score_node() -> Node:
    """Score every image of `synthetic_pool` against its own class caption."""
    return Node(func=score_pool,
                inputs=["clip_model", "synthetic_pool", "class_names", "params:filtering",
                        "params:device"],
                outputs="synthetic_scores", name="score_pool", tags=["filtering"])


def create_scoring_template() -> Pipeline:
    """Score a further pool with the shared CLIP (a namespace per pool)."""
    return Pipeline([_score_node()])


def create_template(**kwargs) -> Pipeline:
    """Per-arm filter: keep the top of the pool by score -> synthetic_kept, summary, grid.

    No namespace here: `genaug.pipelines.arms.arm_pipeline(create_template(), arm)` gives it
    the arm's, and maps `params:filter` to the arm's effective block `params:<arm>.filter`.
    """
    return Pipeline(
        [
            Node(
                func=filter_pool,
                inputs=["synthetic_pool", "synthetic_scores", "class_names", "params:filter"],
                outputs=["synthetic_kept", "filter_summary"],
                name="filter_pool",
                tags=["filtering", "filter"],
            ),
            Node(
                func=plot_filter_grid,
                inputs=["synthetic_pool", "synthetic_scores", "class_names", "params:filter"],
                outputs="filter_grid",
                name="plot_filter_grid",
                tags=["filtering", "filter"],
            ),
        ]
    )
