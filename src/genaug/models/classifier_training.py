"""Classifier training engine: batch samplers, augmentation, the optimisation loop, prediction.

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
import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Sampler
from torchmetrics.classification import MulticlassAccuracy
from tqdm.auto import tqdm

from genaug.common.bundles import Bundle
from genaug.common.precision import autocast, memory_format, resolve_precision
from genaug.common.seeding import derive_seed
from genaug.common.validation import ParameterError
from genaug.models.classifiers import build_classifier, load_state, normalize_images
from genaug.schemas.training import AugmentParams, ClassifierParams, TrainingParams

logger = logging.getLogger(__name__)

SOURCES = ("real", "synthetic", "extra_real")
Stats = tuple[list[float], list[float]] | None


# --------------------------------------------------------------------------- sampling

class _Stream:
    """Endless seeded stream of indices 0..n-1: consecutive permutations, reshuffled per pass."""

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n, self.generator = n, generator
        self.perm = torch.empty(0, dtype=torch.int64)
        self.pos = 0

    def take(self, k: int) -> torch.Tensor:
        """Next k indices."""
        parts, need = [], k
        while need > 0:
            if self.pos >= self.perm.numel():
                self.perm, self.pos = torch.randperm(self.n, generator=self.generator), 0
            chunk = self.perm[self.pos:self.pos + need]
            self.pos += chunk.numel()
            need -= chunk.numel()
            parts.append(chunk)
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.int64)


class MixedBatchSampler(Sampler[list[int]]):
    """Batches over [real; synthetic] with exactly round(batch_size * fraction) synthetic indices.

    Indices < n_real are real, the others synthetic (offset by n_real). `epoch_basis="real"`:
    one epoch shows every real image once; `"union"`: ceil((n_real + n_synthetic) / batch_size)
    steps. With fraction 0 only real images are drawn, with fraction 1 only synthetic ones.
    `synthetic_generator` shuffles the synthetic stream (None: `generator`, which shuffles the
    real one); with a generator of its own the real order does not depend on n_synthetic.
    """

    def __init__(self, n_real: int, n_synthetic: int, batch_size: int, fraction: float,
                 generator: torch.Generator, epoch_basis: str = "real",
                 synthetic_generator: torch.Generator | None = None) -> None:
        self.n_real, self.n_synthetic, self.batch_size = n_real, n_synthetic, batch_size
        self.n_syn_batch = round(batch_size * fraction)
        self.n_real_batch = batch_size - self.n_syn_batch
        if self.n_syn_batch and not n_synthetic:
            raise ValueError("MixedBatchSampler: synthetic images requested but none given.")
        if self.n_real_batch and not n_real:
            raise ValueError("MixedBatchSampler: real images requested but none given.")
        self.epoch_basis = epoch_basis
        self.real = _Stream(n_real, generator)
        self.synthetic = _Stream(n_synthetic, synthetic_generator or generator)

    def __len__(self) -> int:
        """Steps per epoch."""
        if self.epoch_basis == "union":
            return math.ceil((self.n_real + self.n_synthetic) / self.batch_size)
        if self.n_real_batch == 0:
            return math.ceil(self.n_synthetic / self.n_syn_batch)
        return math.ceil(self.n_real / self.n_real_batch)

    def __iter__(self) -> Iterator[list[int]]:
        """Yield one epoch of batches (real indices first, then synthetic, within a batch)."""
        for _ in range(len(self)):
            real = self.real.take(self.n_real_batch)
            syn = self.synthetic.take(self.n_syn_batch) + self.n_real
            yield torch.cat([real, syn]).tolist()


class ShuffledBatchSampler(Sampler[list[int]]):
    """One seeded shuffled pass over n items per epoch, in batches (the last may be smaller)."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __len__(self) -> int:
        """Steps per epoch."""
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        """Yield one epoch of batches."""
        perm = torch.randperm(self.n, generator=self.generator)
        for start in range(0, self.n, self.batch_size):
            yield perm[start:start + self.batch_size].tolist()


# --------------------------------------------------------------------------- optimisation loop

def build_augment(aug: AugmentParams, image_size: tuple[int, int],
                  generator: torch.Generator | None = None
                  ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Batch augmentation on uint8 tensors on the training device: random crop with zero padding
    and horizontal flip (None when both are off).

    `per_sample: false` applies a torchvision transforms v2 pipeline to the whole batch (one random
    draw per batch, v2's behaviour on a batch tensor). `per_sample: true` (default) draws a crop
    offset and a flip per image from `generator` and applies them vectorised: the same operations
    as v2.RandomCrop(padding) + v2.RandomHorizontalFlip, without a Python loop over images.
    """
    if not (aug.random_crop or aug.horizontal_flip):
        return None
    height, width = image_size
    pad = aug.crop_padding if aug.random_crop else 0
    if not aug.per_sample:
        from torchvision.transforms import v2

        ops: list[nn.Module] = []
        if aug.random_crop:
            ops.append(v2.RandomCrop([height, width], padding=pad))
        if aug.horizontal_flip:
            ops.append(v2.RandomHorizontalFlip())
        return v2.Compose(ops)

    def per_sample(batch: torch.Tensor) -> torch.Tensor:
        """Crop and flip every image of the batch with its own random draw."""
        n, dev = batch.shape[0], batch.device
        if pad:
            off = torch.randint(0, 2 * pad + 1, (2, n), generator=generator).to(dev)
            padded = F.pad(batch, (pad, pad, pad, pad))
            rows = padded.new_empty((n, batch.shape[1], height, width + 2 * pad))
            for shift in range(2 * pad + 1):  # one masked copy per offset value, rows then cols
                sel = off[0] == shift
                rows[sel] = padded[sel, :, shift:shift + height, :]
            batch = batch.new_empty(batch.shape)
            for shift in range(2 * pad + 1):
                sel = off[1] == shift
                batch[sel] = rows[sel, :, :, shift:shift + width]
        if aug.horizontal_flip:
            flip = (torch.rand(n, generator=generator) < 0.5).to(dev)[:, None, None, None]
            batch = torch.where(flip, batch.flip(-1), batch)
        return batch

    return per_sample


def _make_optimizer(model: nn.Module, params: ClassifierParams, lr: float
                    ) -> torch.optim.Optimizer:
    """SGD (momentum, nesterov) or AdamW with the configured weight decay."""
    if params.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=params.momentum,
                               nesterov=params.momentum > 0, weight_decay=params.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=params.weight_decay)


def _lr_factor(params: ClassifierParams, step: int, total: int, steps_per_epoch: int) -> float:
    """Learning-rate multiplier at a step: cosine to 0, constant, or step decay every N epochs."""
    if params.lr_schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(1, total)))
    if params.lr_schedule == "step":
        return params.lr_gamma ** ((step // max(1, steps_per_epoch)) // params.lr_step_epochs)
    return 1.0


def run_phase(model: nn.Module, name: str, images: torch.Tensor, labels: torch.Tensor,
              sources: torch.Tensor, sampler: Sampler, epochs: int, lr: float,
              params: ClassifierParams, stats: Stats, device: torch.device,
              desc: str = "train", generator: torch.Generator | None = None) -> dict[str, Any]:
    """Train `model` for `epochs` over `sampler`'s batches; return the phase's history."""
    optimizer = _make_optimizer(model, params, lr)
    precision = resolve_precision(params.precision, device)
    layout = memory_format(params.channels_last)
    steps_per_epoch = len(sampler)
    total = steps_per_epoch * epochs
    augment = build_augment(params.augment, tuple(images.shape[-2:]), generator)
    seen = torch.zeros(len(SOURCES), dtype=torch.int64)
    history: dict[str, Any] = {"name": name, "epochs": epochs, "lr": lr,
                               "steps_per_epoch": steps_per_epoch, "precision": precision,
                               "channels_last": params.channels_last, "loss": [],
                               "train_acc": []}
    images, labels = images.to(device), labels.to(device)
    model.train()
    step, start = 0, time.perf_counter()
    bar = tqdm(range(epochs), desc=f"{desc}:{name}", leave=False, disable=None)
    for epoch in bar:
        loss_sum, correct, count = 0.0, 0, 0
        for batch in sampler:
            index = torch.as_tensor(batch, dtype=torch.int64)
            seen += torch.bincount(sources[index], minlength=len(SOURCES))
            x = images[index.to(device)]
            y = labels[index.to(device)]
            if augment is not None:
                x = augment(x)
            for group in optimizer.param_groups:
                group["lr"] = lr * _lr_factor(params, step, total, steps_per_epoch)
            # Autocast around the forward pass and the loss only (weights and optimizer fp32).
            with autocast(precision, device):
                logits = model(normalize_images(x, stats).contiguous(memory_format=layout))
                loss = F.cross_entropy(logits, y, label_smoothing=params.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            loss_sum += float(loss.detach()) * y.numel()
            correct += int((logits.detach().argmax(1) == y).sum())
            count += y.numel()
        history["loss"].append(loss_sum / max(1, count))
        history["train_acc"].append(correct / max(1, count))
        elapsed = time.perf_counter() - start
        rate = step / max(elapsed, 1e-9)
        eta = (total - step) / max(rate, 1e-9)
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", acc=f"{history['train_acc'][-1]:.3f}")
        logger.info("%s %s epoch %d/%d: loss %.4f, train acc %.3f, %.1f step/s, ETA %.0f s",
                    desc, name, epoch + 1, epochs, history["loss"][-1],
                    history["train_acc"][-1], rate, eta)
    history["images_seen"] = {s: int(seen[i]) for i, s in enumerate(SOURCES)}
    history["seconds"] = round(time.perf_counter() - start, 3)
    return history


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
    model = build_classifier(params, in_channels, num_classes)
    return model.to(device, memory_format=memory_format(params.channels_last))


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
    model = build_classifier(params, images.shape[1], num_classes).to(
        device, memory_format=memory_format(params.channels_last))
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
