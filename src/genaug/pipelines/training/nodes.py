"""Training nodes: the extra real images of a real-augmentation arm, and an arm's classifiers
(one per seed) from real and synthetic (or extra real) images; the engine is
`genaug.models.classifier_training`.

An arm's seeds are trained by :class:`SeedSlot` nodes (slot j trains seeds[j::slots]), so
seeds run as independent tasks under the DaskRunner; :func:`combine_seeds` joins the slots'
weights and histories into what one node training every seed would have saved (each seed is
seeded on its own, so the split changes no number). A slot reuses a seed from the arm's seed
store when its `seed_key` (everything that makes the seed's weights) is there, and adds the
seeds it trains: raising `training.seeds` from 3 to 10 trains only seeds 3-9."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch

from genaug.common.bundles import Bundle, BundleError, bundle_digest, validate_bundle
from genaug.common.device import resolve_device
from genaug.common.precision import resolve_precision
from genaug.common.threads import torch_threads
from genaug.common.validation import ParameterError
from genaug.datasets.seed_store import Entry
from genaug.fingerprints import depends_on, result_key
from genaug.models.classifier_training import draw_extra_real, train_seeds
from genaug.models.classifiers import num_classes_of, pack_states, unpack_states
from genaug.schemas.training import TrainingParams

logger = logging.getLogger(__name__)


def extra_real_like(real_reserve: Bundle, synthetic_kept: Bundle, class_names: list[str],
                    seed: int) -> Bundle:
    """As many real images per class from real_reserve as synthetic_kept holds (the IR arm)."""
    k = num_classes_of(class_names)
    synthetic = validate_bundle(synthetic_kept, "synthetic_kept", num_classes=k)
    reserve = validate_bundle(real_reserve, "real_reserve", num_classes=k, allow_empty=True)
    want = torch.bincount(synthetic["labels"], minlength=k)
    return draw_extra_real(reserve, want, seed, "real_augmented (as many as synthetic_kept)")


@depends_on(params=("extra_real_per_class",))
def extra_real_per_class(real_reserve: Bundle, class_names: list[str], params: TrainingParams,
                         seed: int) -> Bundle:
    """`training.extra_real_per_class` real images per class from real_reserve (a curve arm)."""
    if params.extra_real_per_class is None:
        raise ParameterError("training.extra_real_per_class",
                             "a number of real images per class (a real-augmentation curve arm)",
                             None)
    k = num_classes_of(class_names)
    reserve = validate_bundle(real_reserve, "real_reserve", num_classes=k, allow_empty=True)
    want = torch.full((k,), params.extra_real_per_class, dtype=torch.int64)
    return draw_extra_real(reserve, want, seed,
                           f"training.extra_real_per_class = {params.extra_real_per_class}")


def _needs_synthetic(params: TrainingParams) -> bool:
    """Whether the strategy reads synthetic_kept (for real_augmented: the extra real images)."""
    return params.strategy in ("sequential", "real_augmented") or (
        params.strategy == "joint" and (params.mix == "concat" or params.synthetic_fraction > 0))


def _synthetic(synthetic_kept: Bundle | None, params: TrainingParams, num_classes: int,
               shape: tuple[int, ...]) -> Bundle:
    """synthetic_kept checked against real_train (the strategy needs it: empty is an error)."""
    if synthetic_kept is None or (isinstance(synthetic_kept, Mapping)
                                  and "labels" in synthetic_kept
                                  and len(synthetic_kept["labels"]) == 0):
        raise ParameterError("training.strategy",
                             "a strategy that needs no synthetic images (synthetic_kept is "
                             "empty; use real_only or keep more images in the filter)",
                             params.strategy)
    synthetic = validate_bundle(synthetic_kept, "synthetic_kept", num_classes=num_classes)
    if tuple(synthetic["images"].shape[1:]) != shape:
        raise BundleError(f"'synthetic_kept' images have shape "
                          f"{tuple(synthetic['images'].shape[1:])} but real_train has {shape}.")
    return synthetic


def train_classifier(real_train: Bundle, class_names: list[str], synthetic_kept: Bundle | None,
                     params: TrainingParams, seed: int, device: str
                     ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train the arm's classifier for every seed; return packed weights and the history.

    `synthetic_kept` is the set added to real_train: synthetic images, or for `real_augmented`
    the extra real images drawn by `extra_real_like` / `extra_real_per_class`.
    """
    dev = resolve_device(device)
    k = num_classes_of(class_names)
    real = validate_bundle(real_train, "real_train", num_classes=k)
    shape = tuple(real["images"].shape[1:])
    strategy = params.strategy
    synthetic = _synthetic(synthetic_kept, params, k, shape) if _needs_synthetic(params) else None
    other, other_source, n_extra = synthetic, "synthetic", 0
    if strategy == "real_augmented":
        other_source, n_extra = "extra_real", int(synthetic["labels"].numel())
    n_synthetic = 0 if synthetic is None or strategy == "real_augmented" else \
        int(synthetic["labels"].numel())
    logger.info("training %s: %d real, %d synthetic, %d extra real images, seeds %s on %s",
                strategy, real["labels"].numel(), n_synthetic, n_extra, params.seeds, dev)
    with torch_threads(params.num_threads):
        states, runs = train_seeds(params, real, other, other_source, k, seed, dev)
    history = {
        "strategy": strategy,
        "architecture": params.architecture,
        "mix": params.mix,
        "synthetic_fraction": params.synthetic_fraction
        if strategy in ("joint", "real_augmented") else None,
        "epoch_basis": params.epoch_basis,
        "extra_real_per_class": params.extra_real_per_class,
        "seeds": list(params.seeds),
        "n_real": int(real["labels"].numel()),
        "n_synthetic": n_synthetic,
        "n_extra_real": n_extra,
        "image_shape": list(shape),
        "num_classes": k,
        "device": str(dev),
        "runs": runs,
    }
    return pack_states(states), history


def seed_key(data_digest: str, params: TrainingParams, arm_seed: int, global_seed: int,
             device: torch.device) -> str:
    """What one seed's weights depend on, as a digest: the training keys but the seed list, the
    seed (and the project seed it derives from), the data, the resolved precision and device
    type, the code and library versions."""
    view = {key: value for key, value in params.result_view().items() if key != "seeds"}
    return result_key(train_classifier, {
        "params": view, "arm_seed": arm_seed, "seed": global_seed, "data": data_digest,
        "precision": resolve_precision(params.precision, device), "device": device.type})


class SeedSlot:
    """Slot `index` of `slots` of an arm's seeds (seeds[index::slots]); its node is `train`."""

    def __init__(self, index: int, slots: int) -> None:
        if not 0 <= index < slots:
            raise ValueError(f"seed slot {index} of {slots} does not exist")
        self.index, self.slots = index, slots

    def train(self, real_train: Bundle, class_names: list[str], synthetic_kept: Bundle | None,
              params: TrainingParams, seed: int, device: str, seed_store: Mapping[str, Entry]
              ) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Entry]]:
        """Train this slot's seeds that the store does not hold (none when the arm has fewer
        seeds than slots); return the weights and history of all of them, and the new
        store entries."""
        mine = params.seeds[self.index::self.slots]
        dev = resolve_device(device)
        data = bundle_digest(real_train) + (bundle_digest(synthetic_kept)
                                             if _needs_synthetic(params) else "")
        keys = {s: seed_key(data, params, s, seed, dev) for s in mine}
        reused = {s: seed_store[keys[s]] for s in mine if keys[s] in seed_store}
        todo = [s for s in mine if s not in reused]
        if reused:
            logger.info("seed store: reusing seeds %s, training %s", sorted(reused), todo)
        packed, history = train_classifier(real_train, class_names, synthetic_kept,
                                           params.model_copy(update={"seeds": todo}), seed,
                                           device)
        trained = unpack_states(packed)
        new = {keys[s]: (trained[s], history["runs"][str(s)]) for s in todo}
        states = {s: trained[s] if s in trained else reused[s][0] for s in mine}
        runs = {str(s): history["runs"][str(s)] if s in trained
                else {**reused[s][1], "reused": True} for s in mine}
        return pack_states(states), {**history, "seeds": mine, "runs": runs}, new


@depends_on(params=("seeds",))
def combine_seeds(params: TrainingParams, *slots: dict[str, Any]
                  ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Join the seed slots' (weights, history) pairs, given as weights..., histories...

    The result has every seed of `params.seeds`, in their order, as one training node would
    have saved it.
    """
    if len(slots) % 2:
        raise ValueError(f"combine_seeds takes weights and histories in pairs, got {len(slots)}")
    weights, histories = slots[: len(slots) // 2], slots[len(slots) // 2:]
    packed = {key: value for part in weights for key, value in part.items()}
    runs = {key: run for history in histories for key, run in history["runs"].items()}
    if sorted(runs) != sorted(str(s) for s in params.seeds):
        raise ValueError(f"the seed slots trained seeds {sorted(runs)}, training.seeds is "
                         f"{params.seeds}: rerun the arm's train_classifier_seeds_* nodes")
    order = [f"seed{s}/" for s in params.seeds]
    packed = {key: packed[key] for prefix in order for key in packed if key.startswith(prefix)}
    history = {**histories[0], "seeds": list(params.seeds),
               "runs": {str(s): runs[str(s)] for s in params.seeds}}
    return packed, history
