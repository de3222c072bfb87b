"""Training pipeline: the per-arm classifier template (arms are built in `pipelines/ablations`)."""

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.training.nodes import SeedSlot, combine_seeds

# An arm's seeds are trained by this many independent nodes (slot j: seeds[j::SEED_SLOTS]), so
# a cluster trains them at once. A constant, because a pipeline's nodes are fixed before
# parameters are read; it changes no number (each seed is seeded on its own). With fewer seeds
# than slots the spare slots train nothing and take a moment.
SEED_SLOTS = 3
_WEIGHTS = tuple(f"classifier_seeds_{slot}" for slot in range(SEED_SLOTS))
_HISTORIES = tuple(f"training_history_seeds_{slot}" for slot in range(SEED_SLOTS))


def create_template() -> Pipeline:
    """Per-arm template: train `classifier` and `training_history` from real (+synthetic) data."""
    slots = [
        Node(
            func=SeedSlot(slot, SEED_SLOTS).train,
            inputs=["real_train", "real_reserve", "class_names", "synthetic_kept",
                    "params:training", "params:seed", "params:device"],
            outputs=[weights, history],
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
