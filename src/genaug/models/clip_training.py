"""Training of the closed-set CLIP: ClipLoss on real image–caption pairs, warmup + cosine lr."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import open_clip
import torch
from torch import nn
from tqdm.auto import tqdm

from genaug.common.seeding import derive_seed
from genaug.models.clip import build_clip, build_tokenizer, closed_set_preprocess
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
    offs = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=gen)
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w]
                        for i, (dy, dx) in enumerate(offs.tolist())])


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: nn.Module,
          x: torch.Tensor, tokens: torch.Tensor, labels: torch.Tensor, lr: float) -> float:
    """One contrastive step on a batch of images and their classes' captions; its loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr
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


def train_closed_set_clip(images: torch.Tensor, labels: torch.Tensor, texts: list[str],
                          cfg: Clip, seed: int, device: torch.device
                          ) -> tuple[nn.Module, dict[str, Any]]:
    """Train the closed-set CLIP on uint8 images and their class captions `texts[label]`.

    Returns the model (eval mode) and its training log (steps, timings, loss per epoch).
    """
    train = cfg.closed_set.train
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "filtering", "clip_init"))
        model = build_clip(cfg, tuple(images.shape[1:]))
    model.to(device).train()
    tokenizer = build_tokenizer(cfg, model)
    tokens = tokenizer(texts).to(device)
    x_all = closed_set_preprocess(images)
    n = x_all.shape[0]
    batch_size = min(train.batch_size, n)
    steps_per_epoch = max(1, n // batch_size)  # drop the ragged last batch
    total = steps_per_epoch * train.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr,
                                  weight_decay=train.weight_decay)
    loss_fn = open_clip.ClipLoss()
    gen = torch.Generator().manual_seed(derive_seed(seed, "filtering", "clip_batches"))
    history: list[float] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    step = 0
    bar = tqdm(total=total, desc="train CLIP", unit="step", leave=False)
    for epoch in range(train.epochs):
        order = torch.randperm(n, generator=gen)
        epoch_loss = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * batch_size:(b + 1) * batch_size]
            x = random_shift(x_all[idx], train.max_shift, gen).to(device)
            epoch_loss += _step(model, optimizer, loss_fn, x, tokens, labels[idx].to(device),
                                lr_at(step, total, train.lr, train.warmup_steps))
            step += 1
            bar.update(1)
        history.append(epoch_loss / steps_per_epoch)
        elapsed = time.perf_counter() - start
        logger.info("CLIP epoch %d/%d loss %.4f  %.1f step/s  ETA %.0f s", epoch + 1,
                    train.epochs, history[-1], step / elapsed, elapsed / step * (total - step))
    bar.close()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    logger.info("Trained closed-set CLIP: %d steps in %.1f s (%.1f CPU s on %d threads), "
                "loss %.4f -> %.4f", total, seconds, cpu_seconds, torch.get_num_threads(),
                history[0], history[-1])
    model.eval()
    return model, {"steps": total, "train_seconds": seconds, "train_cpu_seconds": cpu_seconds,
                   "epoch_loss": history, "device": str(device),
                   "threads": torch.get_num_threads()}
