"""Classifier training engine: the optimisation loop and prediction (batch samplers and
augmentation: `genaug.models.batches`).

Strategies (`TrainingParams.strategy`): real_only, joint (mixed batches or concatenation),
sequential (pre-train on synthetic, fine-tune on real) and real_augmented (extra real images from
the reserve in the synthetic slot).

Batch composition (`mix`):
- `ratio`: `MixedBatchSampler` draws round(batch_size * synthetic_fraction) synthetic images and
  the rest real at every step, each pool walked in a fresh seeded permutation (wrapping around when
  exhausted). An epoch is defined by `epoch_basis`: `real` = enough steps to show every real image
  once (ceil(n_real / real_per_batch)), `union` = ceil((n_real + n_synthetic) / batch_size) steps.
  With synthetic_fraction = 1 an epoch is one pass over the synthetic images.
- `concat`: plain concatenation of real and synthetic, shuffled, one pass per epoch.
`real_augmented` trains exactly like `joint` (same `mix`, fraction and epoch basis) with the extra
real images in the synthetic slot, so its gain is directly comparable. `sequential` uses
`pretrain.{epochs,lr}` on synthetic only, then `finetune.{epochs,lr}` on real only (a fresh
optimizer and schedule per phase, the same weights).
Every seed trains its own model; its initialisation and data order derive from (seed, "training",
s) only. Paired design: the real images, the other pool (synthetic or extra real) and the
augmentation draw from three generators of their own (`seed_generators`), so seed s starts from
the same weights and walks the real images in the same sequence of permutations in every arm,
whatever the other pool's size (in a real-only arm in batches of batch_size, in a mixed arm in
its real share of each batch). The shared evaluator network is trained by the same loop
(`train_evaluator_network`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import Sampler
from torchmetrics.classification import MulticlassAccuracy

from genaug.common.bundles import Bundle
from genaug.common.precision import memory_format
from genaug.common.seeding import derive_seed
from genaug.common.validation import ParameterError
from genaug.models.batches import MixedBatchSampler, ShuffledBatchSampler
from genaug.models.classifiers import build_classifier, load_state, normalize_images
from genaug.models.training_loop import SOURCES, Stats, run_phase
from genaug.schemas.training import ClassifierParams, TrainingParams

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- prediction

@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, stats: Stats, device: torch.device,
            batch_size: int) -> torch.Tensor:
    """Logits for uint8 images, in eval mode, batch by batch (returned on the CPU)."""
    model.eval()
    out = [model(normalize_images(images[i:i + batch_size].to(device), stats)).float().cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out) if out else torch.empty(0)


# --------------------------------------------------------------------------- an arm's training

def draw_extra_real(real_reserve: Bundle, per_class: torch.Tensor, seed: int,
                    needed_by: str) -> Bundle:
    """Stratified, seeded draw of `per_class[c]` images of every class c from `real_reserve`.

    Each class is walked in one seeded permutation that depends only on the seed and the reserve,
    so a larger draw contains every smaller one (the real-augmentation curve is nested).
    """
    num_classes = per_class.numel()
    have = torch.bincount(real_reserve["labels"], minlength=num_classes)
    short = [c for c in range(num_classes) if int(per_class[c]) > int(have[c])]
    if short:
        c = short[0]
        raise ParameterError(
            "data_processing.reserve_per_class",
            f"at least {int(per_class[c])} ({needed_by} needs {int(per_class[c])} extra real "
            f"images of class {c}; real_reserve has {int(have[c])})",
            int(have[c]),
        )
    generator = torch.Generator().manual_seed(derive_seed(seed, "training", "real_augmented"))
    parts = []
    for c in range(num_classes):
        idx = torch.nonzero(real_reserve["labels"] == c, as_tuple=False).flatten()
        parts.append(idx[torch.randperm(idx.numel(), generator=generator)[:int(per_class[c])]])
    index = torch.sort(torch.cat(parts)).values
    return {"images": real_reserve["images"][index], "labels": real_reserve["labels"][index]}


def _phases_for(params: TrainingParams, other_source: str) -> list[dict[str, Any]]:
    """Describe the phases of a strategy: which pools, epochs and lr."""
    if params.strategy == "real_only":
        return [{"name": "train", "pools": ("real",), "epochs": params.epochs, "lr": params.lr}]
    if params.strategy == "sequential":
        return [{"name": "pretrain", "pools": (other_source,), **params.pretrain.model_dump()},
                {"name": "finetune", "pools": ("real",), **params.finetune.model_dump()}]
    return [{"name": "train", "pools": ("real", other_source), "epochs": params.epochs,
             "lr": params.lr}]


def seed_generators(train_seed: int) -> dict[str, torch.Generator]:
    """The seed's generators: `real` and `other` (the two pools' orders) and `augment`."""
    return {name: torch.Generator().manual_seed(derive_seed(train_seed, name))
            for name in ("real", "other", "augment")}


def init_classifier(params: ClassifierParams, in_channels: int, num_classes: int,
                    train_seed: int, device: torch.device) -> nn.Module:
    """The seed's initial model: torch's global RNG seeded by `train_seed` (dropout draws too)."""
    torch.manual_seed(train_seed)
    return place_model(build_classifier(params, in_channels, num_classes), params, device)


def place_model(model: nn.Module, params: ClassifierParams, device: torch.device) -> nn.Module:
    """The model on `device` in its memory format, its forward compiled when `compile` is set."""
    model = model.to(device, memory_format=memory_format(params.channels_last))
    if params.compile:
        model.compile()  # in place: the state dict keeps its keys
    return model


def phase_batches(params: TrainingParams, pools: tuple[str, ...], n_real: int, n_other: int,
                  generators: Mapping[str, torch.Generator]) -> tuple[Sampler, slice]:
    """A phase's batch sampler and its view of [real; other] (real and other pools shuffled by
    their own generators; `concat` shuffles the union with the real one)."""
    if pools == ("real",):
        return ShuffledBatchSampler(n_real, params.batch_size, generators["real"]), \
            slice(0, n_real)
    if len(pools) == 1:
        return ShuffledBatchSampler(n_other, params.batch_size, generators["other"]), \
            slice(n_real, n_real + n_other)
    if params.mix == "concat":
        return ShuffledBatchSampler(n_real + n_other, params.batch_size, generators["real"]), \
            slice(0, n_real + n_other)
    return MixedBatchSampler(n_real, n_other, params.batch_size, params.synthetic_fraction,
                             generators["real"], params.epoch_basis, generators["other"]), \
        slice(0, n_real + n_other)


def train_one_seed(params: TrainingParams, real: Bundle, other: Bundle | None,
                   other_source: str, num_classes: int, train_seed: int,
                   device: torch.device, stats: Stats, desc: str
                   ) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Train one model for one seed through the strategy's phases."""
    generators = seed_generators(train_seed)
    model = init_classifier(params, real["images"].shape[1], num_classes, train_seed, device)
    other = other if other is not None else {"images": real["images"][:0],
                                             "labels": real["labels"][:0]}
    images = torch.cat([real["images"], other["images"]])
    labels = torch.cat([real["labels"], other["labels"]])
    n_real, n_other = real["labels"].numel(), other["labels"].numel()
    sources = torch.cat([torch.full((n_real,), SOURCES.index("real")),
                         torch.full((n_other,), SOURCES.index(other_source))])
    histories = []
    for phase in _phases_for(params, other_source):
        sampler, view = phase_batches(params, phase["pools"], n_real, n_other, generators)
        hist = run_phase(model, phase["name"], images[view], labels[view], sources[view],
                         sampler, phase["epochs"], phase["lr"], params, stats, device, desc,
                         generators["augment"])
        hist["pools"] = list(phase["pools"])
        histories.append(hist)
    return model, histories


def train_seeds(params: TrainingParams, real: Bundle, other: Bundle | None, other_source: str,
                num_classes: int, seed: int, device: torch.device
                ) -> tuple[dict[int, dict[str, torch.Tensor]], dict[str, Any]]:
    """Train one model per seed of `params.seeds`: ({seed: state_dict}, {str(seed): run})."""
    stats = params.normalize.stats()
    states, runs = {}, {}
    for s in params.seeds:
        train_seed = derive_seed(seed, "training", s)
        start = time.perf_counter()
        model, phases = train_one_seed(params, real, other, other_source, num_classes,
                                       train_seed, device, stats,
                                       desc=f"{params.strategy}/seed{s}")
        states[s] = model.state_dict()
        runs[str(s)] = {"phases": phases, "seconds": round(time.perf_counter() - start, 3)}
    return states, runs


# --------------------------------------------------------------------------- evaluator network

def train_evaluator_network(params: ClassifierParams, images: torch.Tensor,
                            labels: torch.Tensor, num_classes: int, seed: int,
                            device: torch.device) -> nn.Module:
    """Train the shared evaluator (one shuffled pass per epoch over all given real images)."""
    train_seed = derive_seed(seed, "evaluator")
    torch.manual_seed(train_seed)
    generator = torch.Generator().manual_seed(train_seed)
    model = place_model(build_classifier(params, images.shape[1], num_classes), params, device)
    sampler = ShuffledBatchSampler(labels.numel(), params.batch_size, generator)
    run_phase(model, "train", images, labels, torch.zeros_like(labels), sampler,
              params.epochs, params.lr, params, params.normalize.stats(), device,
              desc="evaluator", generator=generator)
    return model


# --------------------------------------------------------------------------- accuracy

def top1_accuracy(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Top-1 accuracy of predicted classes (torchmetrics, micro average)."""
    return float(MulticlassAccuracy(num_classes=num_classes, average="micro")(preds, labels))


def accuracy_per_seed(params: TrainingParams, states: Mapping[int, Mapping[str, torch.Tensor]],
                      test: Bundle, num_classes: int, device: torch.device, batch_size: int
                      ) -> tuple[list[float], torch.Tensor, list[torch.Tensor]]:
    """Top-1 of every seed's classifier on `test`, per-class top-1 averaged over seeds, and each
    seed's per-image correctness (bool, in `test` order: the pairs of the one-seed test)."""
    stats = params.normalize.stats()
    top1, per_class, correct = [], [], []
    for s in params.seeds:
        model = build_classifier(params, test["images"].shape[1], num_classes)
        load_state(model, states[s], "training.architecture", "classifier")
        logits = predict(model.to(device), test["images"], stats, device, batch_size)
        preds = logits.argmax(1)
        top1.append(top1_accuracy(preds, test["labels"], num_classes))
        per_class.append(MulticlassAccuracy(num_classes=num_classes, average=None)(
            preds, test["labels"]))
        correct.append(preds == test["labels"])
    return top1, torch.stack(per_class).mean(0), correct
