"""Training pipeline: the per-arm classifier template and the extra-real-image templates of the
real-augmentation arms (arms are built in `pipelines/ablations`)."""

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.training.nodes import (
    SeedSlot,
    combine_seeds,
    extra_real_like,
    extra_real_per_class,
)

# An arm's seeds are trained by this many independent nodes (slot j: seeds[j::SEED_SLOTS]), so
# a cluster trains them at once. A constant, because a pipeline's nodes are fixed before
# parameters are read; it changes no number (each seed is seeded on its own). With fewer seeds
# than slots the spare slots train nothing and take a moment. Every slot reads the arm's
# `seed_store` (seeds trained before with the same settings) and writes the seeds it trained
# to `seed_store_<slot>`, the same folder under another name (a node cannot read and write
# one dataset).
SEED_SLOTS = 3
_WEIGHTS = tuple(f"classifier_seeds_{slot}" for slot in range(SEED_SLOTS))
_HISTORIES = tuple(f"training_history_seeds_{slot}" for slot in range(SEED_SLOTS))


def create_template() -> Pipeline:
    """Per-arm template: train `classifier` and `training_history` from real (+synthetic) data."""
    slots = [
        Node(
            func=SeedSlot(slot, SEED_SLOTS).train,
            inputs=["real_train", "class_names", "synthetic_kept", "params:training",
                    "params:seed", "params:device", "seed_store"],
            outputs=[weights, history, f"seed_store_{slot}"],
            name=f"train_classifier_seeds_{slot}",
            tags=["training", "gpu"],  # "gpu": claims a GPU under genaug.runner.DaskRunner
        )
        for slot, (weights, history) in enumerate(zip(_WEIGHTS, _HISTORIES, strict=True))
    ]
    return Pipeline([
        *slots,
        Node(
            func=combine_seeds,
            inputs=["params:training", *_WEIGHTS, *_HISTORIES],
            outputs=["classifier", "training_history"],
            name="combine_seeds",
            tags=["training"],
        ),
    ])


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
