"""CLIP inference: image–caption similarities, per-image pool scores, ranking metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from genaug.models.clip import encode_images, encode_texts


def similarities(model: nn.Module, tokenizer: Callable, preprocess: Callable,
                 images: torch.Tensor, texts: list[str], device: torch.device,
                 batch_size: int, desc: str) -> torch.Tensor:
    """Cosine similarity of every image with every caption (N×K, float32, CPU)."""
    text_features = encode_texts(model, tokenizer, texts, device).cpu()
    with tqdm(total=images.shape[0], desc=desc, unit="img", leave=False) as bar:
        image_features = encode_images(model, preprocess, images, device, batch_size,
                                       bar.update)
    return image_features @ text_features.T


def own_class_scores(sims: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each image's similarity with its own class caption (float32 N, contiguous)."""
    return sims.gather(1, labels.view(-1, 1)).squeeze(1).to(torch.float32).contiguous()


def pixel_sums(images: torch.Tensor) -> torch.Tensor:
    """Per-image sum of pixel values: a cheap fingerprint of the pool's order.

    Summed in chunks so the int64 accumulation never copies the whole pool.
    """
    flat = images.flatten(1)
    return torch.cat([chunk.sum(dim=1, dtype=torch.int64) for chunk in flat.split(1024)]
                     or [torch.zeros(0, dtype=torch.int64)])


def first_per_class(labels: torch.Tensor, num_classes: int, cap: int) -> torch.Tensor:
    """Indices of the first `cap` images of each class, in their original order."""
    return torch.cat([torch.nonzero(labels == c).flatten()[:cap]
                      for c in range(num_classes)]).sort().values


def ranking_metrics(sims: torch.Tensor, labels: torch.Tensor,
                    names: Sequence[str]) -> dict[str, Any]:
    """Top-1 accuracy and own- vs other-class cosine similarity from an N×K similarity matrix."""
    k = sims.shape[1]
    own_mask = torch.nn.functional.one_hot(labels, k).bool()
    own = sims[own_mask]
    other = sims[~own_mask]
    pred = sims.argmax(dim=1)
    # how often an image's own caption beats a wrong caption (chance 0.5)
    own_col = sims.gather(1, labels.view(-1, 1))
    above = (own_col > sims)[~own_mask]
    per_class = {}
    for c, name in enumerate(names):
        sel = labels == c
        if sel.any():
            per_class[name] = float((pred[sel] == c).float().mean())
    return {
        "zero_shot_top1": float((pred == labels).float().mean()),
        "mean_own_class_similarity": float(own.mean()),
        "mean_other_class_similarity": float(other.mean()) if k > 1 else None,
        "own_above_other_rate": float(above.float().mean()) if k > 1 else None,
        "zero_shot_top1_per_class": per_class,
    }
