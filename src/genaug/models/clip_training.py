"""Training of the closed-set CLIP: ClipLoss on real image–caption pairs, warmup + cosine lr,
checkpointed every few epochs so a killed training resumes."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import open_clip
import torch
from torch import nn
from tqdm.auto import tqdm

from genaug.common.precision import autocast, cuda_math, resolve_precision
from genaug.common.seeding import derive_seed
from genaug.models.clip import build_clip, build_tokenizer, closed_set_preprocess
from genaug.models.training_state import CheckpointStore, LoopCheckpoints
from genaug.schemas.filtering import Clip

logger = logging.getLogger(__name__)


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warmup then cosine decay to zero."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * base * (1.0 + math.cos(math.pi * min(1.0, progress)))


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to `max_shift` pixels (edge-replicated borders)."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, [max_shift] * 4, mode="replicate")
    offs = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=gen).to(x.device)
    # One gather for the whole batch (on the images' device): image i's rows dy_i .. dy_i + h.
    rows = offs[:, 0, None] + torch.arange(h, device=x.device)
    cols = offs[:, 1, None] + torch.arange(w, device=x.device)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
          x: torch.Tensor, tokens: torch.Tensor, labels: torch.Tensor, lr: float,
          precision: str) -> float:
    """One contrastive step on a batch of images and their classes' captions; its loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    with autocast(precision, x.device):  # forward and loss only; weights and optimizer fp32
        image_features = model.encode_image(x, normalize=True)
        # Encode each class caption once and gather: same gradients, K text passes.
        text_features = model.encode_text(tokens, normalize=True)[labels]
        loss = loss_fn(image_features, text_features, model.logit_scale.exp())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))
    return float(loss.detach())


def _epoch_batches(x_all: torch.Tensor, labels: torch.Tensor, batch_size: int, max_shift: int,
                   gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch's batches in a random order (the ragged last batch dropped), shifted at random."""
    order = torch.randperm(x_all.shape[0], generator=gen).to(x_all.device)
    for b in range(max(1, x_all.shape[0] // batch_size)):
        idx = order[b * batch_size:(b + 1) * batch_size]
        yield random_shift(x_all[idx], max_shift, gen), labels[idx]


def train_closed_set_clip(images: torch.Tensor, labels: torch.Tensor, texts: list[str],
                          cfg: Clip, seed: int, device: torch.device,
                          checkpoints: CheckpointStore | None = None
                          ) -> tuple[nn.Module, dict[str, Any]]:
    """Train the closed-set CLIP on uint8 images and their class captions `texts[label]`.

    Returns the model (eval mode) and its training log (steps, timings, loss per epoch). With
    `checkpoints` and `train.checkpoint_every` (epochs), it resumes from the latest checkpoint
    and saves one every that many epochs and after the last.
    """
    train = cfg.closed_set.train
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "filtering", "clip_init"))
        model = build_clip(cfg, tuple(images.shape[1:]))
    model.to(device).train()
    tokens = build_tokenizer(cfg, model)(texts).to(device)
    # Every image on the device once; batches are gathered there (no host copies per step).
    x_all, labels = closed_set_preprocess(images).to(device), labels.to(device)
    precision = resolve_precision(train.precision, device)
    batch_size = min(train.batch_size, x_all.shape[0])
    per_epoch = max(1, x_all.shape[0] // batch_size)
    total = per_epoch * train.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr,
                                  weight_decay=train.weight_decay)
    loss_fn = open_clip.ClipLoss()
    gen = torch.Generator().manual_seed(derive_seed(seed, "filtering", "clip_batches"))
    loop = LoopCheckpoints(checkpoints, train.checkpoint_every, train.epochs,
                           {"model": model, "optimizer": optimizer}, gen, device)
    start, cpu_start = time.perf_counter(), time.process_time()
    with loop.global_rng(), cuda_math(precision, device):
        done, values = loop.resume()
        history: list[float] = list(values.get("epoch_loss", []))
        for epoch in range(done, train.epochs):
            batches = tqdm(_epoch_batches(x_all, labels, batch_size, train.max_shift, gen),
                           total=per_epoch, desc=f"CLIP epoch {epoch + 1}", leave=False)
            history.append(sum(
                _step(model, optimizer, loss_fn, x, tokens, y,
                      lr_at(epoch * per_epoch + b, total, train.lr, train.warmup_steps),
                      precision)
                for b, (x, y) in enumerate(batches)) / per_epoch)
            ran, elapsed = (epoch + 1 - done) * per_epoch, time.perf_counter() - start
            logger.info("CLIP epoch %d/%d loss %.4f  %.1f step/s  ETA %.0f s", epoch + 1,
                        train.epochs, history[-1], ran / elapsed,
                        elapsed / ran * (total - (epoch + 1) * per_epoch))
            loop.save_if_due(epoch + 1, {"epoch_loss": history})
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    logger.info("Trained closed-set CLIP: %d steps (%d in this run) in %.1f s (%.1f CPU s on %d "
                "threads), loss %.4f -> %.4f", total, total - done * per_epoch, seconds,
                cpu_seconds, torch.get_num_threads(), history[0], history[-1])
    model.eval()
    return model, {"steps": total, "train_seconds": seconds, "train_cpu_seconds": cpu_seconds,
                   "epoch_loss": history, "device": str(device), "precision": precision,
                   "threads": torch.get_num_threads(), "resumed_from_epoch": done}
