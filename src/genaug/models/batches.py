"""Batches of the classifier training loop: seeded batch samplers (mixed real/synthetic, or
shuffled passes) and batch augmentation (crop and flip), engines of `classifier_training`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Sampler

from genaug.schemas.training import AugmentParams


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


# --------------------------------------------------------------------------- augmentation

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
