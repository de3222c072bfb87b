"""Train classifiers per arm: real_only, joint (mixed batches or concatenation), sequential
(pre-train on synthetic, fine-tune on real) and real_augmented (extra real images from the reserve).

Batch composition (`training.mix`):
- `ratio`: `MixedBatchSampler` draws round(batch_size * synthetic_fraction) synthetic images and
  the rest real at every step, each pool walked in a fresh seeded permutation (wrapping around when
  exhausted). An epoch is defined by `training.epoch_basis`: `real` = enough steps to show every
  real image once (ceil(n_real / real_per_batch)), `union` = ceil((n_real + n_synthetic) /
  batch_size) steps. With synthetic_fraction = 1 an epoch is one pass over the synthetic images.
- `concat`: plain concatenation of real and synthetic, shuffled, one pass per epoch.
`real_augmented` trains exactly like `joint` (same `mix`, fraction and epoch basis) with the extra
real images from `real_reserve` in the synthetic slot, so its gain is directly comparable.
`sequential` uses `pretrain.{epochs,lr}` on synthetic only, then `finetune.{epochs,lr}` on real only
(a fresh optimizer and schedule per phase, the same weights).
Every seed in `training.seeds` trains its own model; the initialisation and data order of seed s
derive from (params:seed, "training", s) only, so arms with the same seed start identically.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Sampler
from tqdm.auto import tqdm

from genaug.common.bundles import Bundle, BundleError, validate_bundle
from genaug.common.device import resolve_device
from genaug.common.params import merge_params
from genaug.common.seeding import derive_seed
from genaug.common.validation import (
    ParameterError,
    check_choice,
    check_float,
    check_int,
    require,
)
from genaug.models.classifiers import (
    build_classifier,
    check_architecture,
    check_normalization,
    normalize_images,
    pack_states,
)

logger = logging.getLogger(__name__)

P = "training"
STRATEGIES = ("real_only", "joint", "sequential", "real_augmented")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "constant", "step")
SOURCES = ("real", "synthetic", "extra_real")


# --------------------------------------------------------------------------- parameters

def check_optim_params(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Validate the optimisation keys shared by classifiers and the evaluator."""
    cfg = {
        "epochs": check_int(require(params, "epochs", prefix), f"{prefix}.epochs", minimum=1),
        "batch_size": check_int(require(params, "batch_size", prefix), f"{prefix}.batch_size",
                                minimum=1),
        "optimizer": check_choice(require(params, "optimizer", prefix), f"{prefix}.optimizer",
                                  OPTIMIZERS),
        "lr": check_float(require(params, "lr", prefix), f"{prefix}.lr", low=0.0, low_open=True),
        "momentum": check_float(params.get("momentum", 0.9), f"{prefix}.momentum",
                                low=0.0, high=1.0, high_open=True),
        "weight_decay": check_float(params.get("weight_decay", 0.0), f"{prefix}.weight_decay",
                                    low=0.0),
        "lr_schedule": check_choice(require(params, "lr_schedule", prefix),
                                    f"{prefix}.lr_schedule", SCHEDULES),
        "lr_step_epochs": check_int(params.get("lr_step_epochs", 10), f"{prefix}.lr_step_epochs",
                                    minimum=1),
        "lr_gamma": check_float(params.get("lr_gamma", 0.1), f"{prefix}.lr_gamma",
                                low=0.0, high=1.0, low_open=True),
        "label_smoothing": check_float(params.get("label_smoothing", 0.0),
                                       f"{prefix}.label_smoothing", low=0.0, high=1.0,
                                       high_open=True),
        "eval_batch_size": check_int(params.get("eval_batch_size", 512),
                                     f"{prefix}.eval_batch_size", minimum=1),
    }
    aug = params.get("augment") or {}
    if not isinstance(aug, Mapping):
        raise ParameterError(f"{prefix}.augment", "a mapping (random_crop, crop_padding, "
                             "horizontal_flip)", aug)
    cfg["augment"] = {
        "random_crop": _check_bool(aug.get("random_crop", False),
                                   f"{prefix}.augment.random_crop"),
        "crop_padding": check_int(aug.get("crop_padding", 2), f"{prefix}.augment.crop_padding",
                                  minimum=0),
        "horizontal_flip": _check_bool(aug.get("horizontal_flip", False),
                                       f"{prefix}.augment.horizontal_flip"),
        "per_sample": _check_bool(aug.get("per_sample", True), f"{prefix}.augment.per_sample"),
    }
    cfg["arch"] = check_architecture(params, prefix)
    return cfg


def check_training_params(params: Mapping[str, Any], prefix: str = P) -> dict[str, Any]:
    """Validate merged training parameters and return a normalised config dict."""
    if not isinstance(params, Mapping):
        raise ParameterError(prefix, "a mapping of training parameters", params)
    cfg = check_optim_params(params, prefix)
    cfg["strategy"] = check_choice(require(params, "strategy", prefix), f"{prefix}.strategy",
                                   STRATEGIES)
    seeds = require(params, "seeds", prefix)
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise ParameterError(f"{prefix}.seeds", "a non-empty list of distinct ints >= 0", seeds)
    cfg["seeds"] = list(seeds)
    cfg["mix"] = check_choice(params.get("mix", "ratio"), f"{prefix}.mix", ("ratio", "concat"))
    cfg["synthetic_fraction"] = check_float(params.get("synthetic_fraction", 0.5),
                                            f"{prefix}.synthetic_fraction", low=0.0, high=1.0)
    cfg["epoch_basis"] = check_choice(params.get("epoch_basis", "real"), f"{prefix}.epoch_basis",
                                      ("real", "union"))
    for phase in ("pretrain", "finetune"):
        sub = params.get(phase) or {}
        if not isinstance(sub, Mapping):
            raise ParameterError(f"{prefix}.{phase}", "a mapping with epochs and lr", sub)
        cfg[phase] = {
            "epochs": check_int(sub.get("epochs", cfg["epochs"]), f"{prefix}.{phase}.epochs",
                                minimum=0),
            "lr": check_float(sub.get("lr", cfg["lr"]), f"{prefix}.{phase}.lr",
                              low=0.0, low_open=True),
        }
    cfg["raw"] = dict(params)
    return cfg


def _check_bool(value: Any, name: str) -> bool:
    """Check a boolean flag."""
    if not isinstance(value, bool):
        raise ParameterError(name, "true or false", value)
    return value


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
    """

    def __init__(self, n_real: int, n_synthetic: int, batch_size: int, fraction: float,
                 generator: torch.Generator, epoch_basis: str = "real") -> None:
        self.n_real, self.n_synthetic, self.batch_size = n_real, n_synthetic, batch_size
        self.n_syn_batch = round(batch_size * fraction)
        self.n_real_batch = batch_size - self.n_syn_batch
        if self.n_syn_batch and not n_synthetic:
            raise ValueError("MixedBatchSampler: synthetic images requested but none given.")
        if self.n_real_batch and not n_real:
            raise ValueError("MixedBatchSampler: real images requested but none given.")
        self.epoch_basis = epoch_basis
        self.real = _Stream(n_real, generator)
        self.synthetic = _Stream(n_synthetic, generator)

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


# --------------------------------------------------------------------------- training engine

def build_augment(aug: Mapping[str, Any], image_size: tuple[int, int],
                  generator: torch.Generator | None = None):
    """Batch augmentation on uint8 tensors on the training device: random crop with zero padding
    and horizontal flip.

    `per_sample: false` applies a torchvision transforms v2 pipeline to the whole batch (one random
    draw per batch, v2's behaviour on a batch tensor). `per_sample: true` (default) draws a crop
    offset and a flip per image from `generator` and applies them vectorised: the same operations
    as v2.RandomCrop(padding) + v2.RandomHorizontalFlip, without a Python loop over images.
    """
    if not (aug["random_crop"] or aug["horizontal_flip"]):
        return None
    height, width = image_size
    pad = aug["crop_padding"] if aug["random_crop"] else 0
    if not aug["per_sample"]:
        from torchvision.transforms import v2

        ops: list[nn.Module] = []
        if aug["random_crop"]:
            ops.append(v2.RandomCrop([height, width], padding=pad))
        if aug["horizontal_flip"]:
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
        if aug["horizontal_flip"]:
            flip = (torch.rand(n, generator=generator) < 0.5).to(dev)[:, None, None, None]
            batch = torch.where(flip, batch.flip(-1), batch)
        return batch

    return per_sample


def _make_optimizer(model: nn.Module, cfg: Mapping[str, Any], lr: float):
    """SGD (momentum, nesterov) or AdamW with the configured weight decay."""
    if cfg["optimizer"] == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=cfg["momentum"],
                               nesterov=cfg["momentum"] > 0, weight_decay=cfg["weight_decay"])
    return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg["weight_decay"])


def _lr_factor(cfg: Mapping[str, Any], step: int, total: int, steps_per_epoch: int) -> float:
    """Learning-rate multiplier at a step: cosine to 0, constant, or step decay every N epochs."""
    if cfg["lr_schedule"] == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(1, total)))
    if cfg["lr_schedule"] == "step":
        return cfg["lr_gamma"] ** ((step // max(1, steps_per_epoch)) // cfg["lr_step_epochs"])
    return 1.0


def run_phase(model: nn.Module, name: str, images: torch.Tensor, labels: torch.Tensor,
              sources: torch.Tensor, sampler: Sampler, epochs: int, lr: float,
              cfg: Mapping[str, Any], stats, device: torch.device,
              desc: str = "train", generator: torch.Generator | None = None) -> dict[str, Any]:
    """Train `model` for `epochs` over `sampler`'s batches; return the phase's history."""
    optimizer = _make_optimizer(model, cfg, lr)
    steps_per_epoch = len(sampler)
    total = steps_per_epoch * epochs
    augment = build_augment(cfg["augment"], tuple(images.shape[-2:]), generator)
    seen = torch.zeros(len(SOURCES), dtype=torch.int64)
    history: dict[str, Any] = {"name": name, "epochs": epochs, "lr": lr,
                               "steps_per_epoch": steps_per_epoch, "loss": [], "train_acc": []}
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
                group["lr"] = lr * _lr_factor(cfg, step, total, steps_per_epoch)
            logits = model(normalize_images(x, stats))
            loss = F.cross_entropy(logits, y, label_smoothing=cfg["label_smoothing"])
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
def predict(model: nn.Module, images: torch.Tensor, stats, device: torch.device,
            batch_size: int) -> torch.Tensor:
    """Logits for uint8 images, in eval mode, batch by batch (returned on the CPU)."""
    model.eval()
    out = [model(normalize_images(images[i:i + batch_size].to(device), stats)).float().cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def set_threads_from(params: Mapping[str, Any], prefix: str) -> None:
    """Apply `num_threads` (null = leave torch's default) for CPU work."""
    threads = params.get("num_threads")
    if threads is not None:
        torch.set_num_threads(check_int(threads, f"{prefix}.num_threads", minimum=1))


# --------------------------------------------------------------------------- data for an arm

def draw_extra_real(real_reserve: Bundle, synthetic_kept: Bundle, num_classes: int,
                    seed: int) -> Bundle:
    """Stratified, seeded draw from `real_reserve` with synthetic_kept's per-class counts."""
    want = torch.bincount(synthetic_kept["labels"], minlength=num_classes)
    have = torch.bincount(real_reserve["labels"], minlength=num_classes)
    short = [c for c in range(num_classes) if int(want[c]) > int(have[c])]
    if short:
        c = short[0]
        raise ParameterError(
            "data_processing.reserve_per_class",
            f"at least {int(want[c])} (real_augmented needs as many extra real images per class "
            f"as synthetic_kept holds; class {c} has {int(have[c])} in real_reserve)",
            int(have[c]),
        )
    generator = torch.Generator().manual_seed(derive_seed(seed, "training", "real_augmented"))
    parts = []
    for c in range(num_classes):
        idx = torch.nonzero(real_reserve["labels"] == c, as_tuple=False).flatten()
        parts.append(idx[torch.randperm(idx.numel(), generator=generator)[:int(want[c])]])
    index = torch.sort(torch.cat(parts)).values
    return {"images": real_reserve["images"][index], "labels": real_reserve["labels"][index]}


def _phases_for(cfg: Mapping[str, Any], n_real: int, n_other: int, other_source: str
                ) -> list[dict[str, Any]]:
    """Describe the phases of a strategy: which pools, how batches are drawn, epochs and lr."""
    strategy = cfg["strategy"]
    if strategy == "real_only":
        return [{"name": "train", "pools": ("real",), "epochs": cfg["epochs"], "lr": cfg["lr"]}]
    if strategy == "sequential":
        return [{"name": "pretrain", "pools": (other_source,), **cfg["pretrain"]},
                {"name": "finetune", "pools": ("real",), **cfg["finetune"]}]
    return [{"name": "train", "pools": ("real", other_source), "epochs": cfg["epochs"],
             "lr": cfg["lr"]}]


def train_one_seed(cfg: Mapping[str, Any], real: Bundle, other: Bundle | None,
                   other_source: str, num_classes: int, train_seed: int,
                   device: torch.device, stats, desc: str) -> tuple[nn.Module, list[dict]]:
    """Train one model for one seed through the strategy's phases."""
    torch.manual_seed(train_seed)
    generator = torch.Generator().manual_seed(train_seed)
    in_channels = real["images"].shape[1]
    model = build_classifier(cfg["arch"], in_channels, num_classes).to(device)
    other = other if other is not None else {"images": real["images"][:0],
                                             "labels": real["labels"][:0]}
    images = torch.cat([real["images"], other["images"]])
    labels = torch.cat([real["labels"], other["labels"]])
    n_real, n_other = real["labels"].numel(), other["labels"].numel()
    sources = torch.cat([torch.full((n_real,), SOURCES.index("real")),
                         torch.full((n_other,), SOURCES.index(other_source))])
    histories = []
    for phase in _phases_for(cfg, n_real, n_other, other_source):
        if phase["pools"] == ("real",):
            sampler = ShuffledBatchSampler(n_real, cfg["batch_size"], generator)
            view = slice(0, n_real)
        elif phase["pools"] == (other_source,):
            sampler = ShuffledBatchSampler(n_other, cfg["batch_size"], generator)
            view = slice(n_real, n_real + n_other)
        elif cfg["mix"] == "concat":
            sampler = ShuffledBatchSampler(n_real + n_other, cfg["batch_size"], generator)
            view = slice(0, n_real + n_other)
        else:
            sampler = MixedBatchSampler(n_real, n_other, cfg["batch_size"],
                                        cfg["synthetic_fraction"], generator, cfg["epoch_basis"])
            view = slice(0, n_real + n_other)
        hist = run_phase(model, phase["name"], images[view], labels[view], sources[view],
                         sampler, phase["epochs"], phase["lr"], cfg, stats, device, desc,
                         generator)
        hist["pools"] = list(phase["pools"])
        histories.append(hist)
    return model, histories


# --------------------------------------------------------------------------- node

def train_classifier(real_train: Bundle, real_reserve: Bundle, class_names: list[str],
                     synthetic_kept: Bundle | None, params: Mapping[str, Any],
                     overrides: Mapping[str, Any] | None, seed: int, device: str
                     ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train the arm's classifier for every seed; return packed weights and the history."""
    cfg = check_training_params(merge_params(params, overrides))
    seed = check_int(seed, "seed", minimum=0)
    dev = resolve_device(device)
    set_threads_from(cfg["raw"], P)
    if not isinstance(class_names, list) or len(class_names) < 2:
        raise ParameterError("class_names", "a list of at least two class names", class_names)
    k = len(class_names)
    real = validate_bundle(real_train, "real_train", num_classes=k)
    shape = tuple(real["images"].shape[1:])
    stats = check_normalization(cfg["raw"], P, shape[0])
    strategy = cfg["strategy"]
    needs_synthetic = strategy in ("sequential", "real_augmented") or (
        strategy == "joint" and (cfg["mix"] == "concat" or cfg["synthetic_fraction"] > 0))
    synthetic = None
    if needs_synthetic:
        if synthetic_kept is None or (isinstance(synthetic_kept, Mapping)
                                      and "labels" in synthetic_kept
                                      and len(synthetic_kept["labels"]) == 0):
            raise ParameterError(f"{P}.strategy",
                                 "a strategy that needs no synthetic images (synthetic_kept is "
                                 "empty; use real_only or keep more images in the filter)",
                                 strategy)
        synthetic = validate_bundle(synthetic_kept, "synthetic_kept", num_classes=k)
        if tuple(synthetic["images"].shape[1:]) != shape:
            raise BundleError(f"'synthetic_kept' images have shape "
                              f"{tuple(synthetic['images'].shape[1:])} but real_train has {shape}.")
    other, other_source, n_extra = synthetic, "synthetic", 0
    if strategy == "real_augmented":
        reserve = validate_bundle(real_reserve, "real_reserve", num_classes=k, image_shape=shape,
                                  allow_empty=True)
        other = draw_extra_real(reserve, synthetic, k, seed)
        other_source, n_extra = "extra_real", int(other["labels"].numel())
    n_synthetic = int(synthetic["labels"].numel()) if synthetic is not None and \
        strategy != "real_augmented" else 0
    logger.info("training %s: %d real, %d synthetic, %d extra real images, seeds %s on %s",
                strategy, real["labels"].numel(), n_synthetic, n_extra, cfg["seeds"], dev)
    states, runs = {}, {}
    for s in cfg["seeds"]:
        train_seed = derive_seed(seed, "training", s)
        start = time.perf_counter()
        model, phases = train_one_seed(cfg, real, other, other_source, k, train_seed, dev,
                                       stats, desc=f"{strategy}/seed{s}")
        states[s] = model.state_dict()
        runs[str(s)] = {"phases": phases, "seconds": round(time.perf_counter() - start, 3)}
    history = {
        "strategy": strategy,
        "architecture": cfg["arch"]["architecture"],
        "mix": cfg["mix"],
        "synthetic_fraction": cfg["synthetic_fraction"] if strategy in ("joint", "real_augmented")
        else None,
        "epoch_basis": cfg["epoch_basis"],
        "seeds": cfg["seeds"],
        "n_real": int(real["labels"].numel()),
        "n_synthetic": n_synthetic,
        "n_extra_real": n_extra,
        "image_shape": list(shape),
        "num_classes": k,
        "device": str(dev),
        "runs": runs,
    }
    return pack_states(states), history
