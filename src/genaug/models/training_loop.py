"""The classifier optimisation loop shared by every arm's seeds and the evaluator network: SGD
or AdamW, the learning-rate schedule, bf16 autocast around forward and loss, TF32 on CUDA, loss
and accuracy summed on the device (the engine of `classifier_training`)."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Sampler
from tqdm.auto import tqdm

from genaug.common.precision import autocast, cuda_math, memory_format, resolve_precision
from genaug.models.batches import build_augment
from genaug.models.classifiers import normalize_images
from genaug.schemas.training import ClassifierParams

logger = logging.getLogger(__name__)

SOURCES = ("real", "synthetic", "extra_real")
Stats = tuple[list[float], list[float]] | None


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
    precision = resolve_precision(params.precision, device)
    history: dict[str, Any] = {"name": name, "epochs": epochs, "lr": lr,
                               "steps_per_epoch": len(sampler), "precision": precision,
                               "channels_last": params.channels_last, "loss": [],
                               "train_acc": []}
    loop = _Loop(model, params, lr, precision, stats, device, epochs * len(sampler),
                 build_augment(params.augment, tuple(images.shape[-2:]), generator))
    images, labels = images.to(device), labels.to(device)
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=f"{desc}:{name}", leave=False, disable=None)
    with cuda_math(precision, device):
        for epoch in bar:
            loss, acc = loop.epoch(sampler, images, labels, sources)
            history["loss"].append(loss)
            history["train_acc"].append(acc)
            rate = loop.step / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}")
            logger.info("%s %s epoch %d/%d: loss %.4f, train acc %.3f, %.1f step/s, ETA %.0f s",
                        desc, name, epoch + 1, epochs, loss, acc, rate,
                        (loop.total - loop.step) / max(rate, 1e-9))
    history["images_seen"] = {s: int(loop.seen[i]) for i, s in enumerate(SOURCES)}
    history["seconds"] = round(time.perf_counter() - start, 3)
    return history


class _Loop:
    """One phase's optimiser, schedule and counters; `epoch` runs one pass of the sampler."""

    def __init__(self, model: nn.Module, params: ClassifierParams, lr: float, precision: str,
                 stats: Stats, device: torch.device, total: int,
                 augment: Any) -> None:
        self.model, self.params, self.lr, self.precision = model, params, lr, precision
        self.stats, self.device, self.total, self.augment = stats, device, total, augment
        self.optimizer = _make_optimizer(model, params, lr)
        self.layout = memory_format(params.channels_last)
        self.seen = torch.zeros(len(SOURCES), dtype=torch.int64)
        self.step = 0

    def epoch(self, sampler: Sampler, images: torch.Tensor, labels: torch.Tensor,
              sources: torch.Tensor) -> tuple[float, float]:
        """One pass: (mean loss, train accuracy), summed on the device and read once."""
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        count = 0
        for batch in sampler:
            index = torch.as_tensor(batch, dtype=torch.int64)
            self.seen += torch.bincount(sources[index], minlength=len(SOURCES))
            x, y = images[index.to(self.device)], labels[index.to(self.device)]
            if self.augment is not None:
                x = self.augment(x)
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr * _lr_factor(self.params, self.step, self.total,
                                                   len(sampler))
            # Autocast around the forward pass and the loss only (weights and optimizer fp32).
            with autocast(self.precision, self.device):
                logits = self.model(normalize_images(x, self.stats).contiguous(
                    memory_format=self.layout))
                loss = F.cross_entropy(logits, y, label_smoothing=self.params.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            loss_sum += loss.detach().double() * y.numel()
            correct += (logits.detach().argmax(1) == y).sum()
            count += y.numel()
        return float(loss_sum) / max(1, count), int(correct) / max(1, count)
