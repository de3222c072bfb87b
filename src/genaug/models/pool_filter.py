"""The CLIP filter's selection: which pool images an arm keeps, given one score per image.

Rounding rule: `per_class` mode drops floor(n_c * drop_fraction) images of each class c (so a
class keeps n_c - floor(n_c * f) >= 1 images whenever it has any); `global` mode drops
floor(N * drop_fraction) images of the whole pool. Ties: images are ranked by score, highest
first, with equal scores ordered by pool index (stable sort), and the tail of that ranking is
dropped, so of two equal scores the later pool image is dropped first. Kept images stay in pool
order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from genaug.common.bundles import Bundle
from genaug.common.validation import ParameterError
from genaug.models.clip_scoring import pixel_sums


def check_alignment(pool: Bundle, scores: Mapping[str, Any]) -> torch.Tensor:
    """Return the pool's scores after checking they belong to this pool, in its order."""
    if not isinstance(scores, Mapping) or "scores" not in scores:
        raise ValueError("'synthetic_scores' must be a dict with a 'scores' tensor.")
    s = scores["scores"]
    n = pool["labels"].shape[0]
    if not isinstance(s, torch.Tensor) or s.ndim != 1 or s.shape[0] != n:
        shape = tuple(getattr(s, "shape", ()))
        raise ValueError(f"'synthetic_scores' is not aligned with 'synthetic_pool': {shape} "
                         f"scores for {n} pool images; rerun the filtering pipeline's scoring.")
    if "labels" in scores and not torch.equal(scores["labels"].to(torch.int64), pool["labels"]):
        raise ValueError("'synthetic_scores' is not aligned with 'synthetic_pool': their labels "
                         "differ; rerun the filtering pipeline's scoring for this pool.")
    if "pixel_sums" in scores and not torch.equal(scores["pixel_sums"].to(torch.int64),
                                                  pixel_sums(pool["images"])):
        raise ValueError("'synthetic_scores' is not aligned with 'synthetic_pool': the images "
                         "differ from the scored ones; rerun the scoring for this pool.")
    s = s.to(torch.float32)
    if not torch.isfinite(s).all():
        raise ValueError("'synthetic_scores' holds non-finite scores.")
    return s


def _ranked(scores: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`index` ordered by score, highest first; equal scores keep pool order (stable)."""
    order = torch.sort(-scores[index], stable=True).indices
    return index[order]


def select_kept(scores: torch.Tensor, labels: torch.Tensor, num_classes: int,
                drop_fraction: float, mode: str,
                names: Sequence[str] | None = None) -> torch.Tensor:
    """Boolean mask of the pool images the filter keeps (see the module docstring's rule)."""
    names = list(names) if names is not None else [str(c) for c in range(num_classes)]
    keep = torch.zeros(labels.shape[0], dtype=torch.bool)
    if mode == "per_class":
        for c in range(num_classes):
            index = torch.nonzero(labels == c).flatten()
            if index.numel() == 0:
                raise ValueError(f"'synthetic_pool' has no images of class '{names[c]}', so the "
                                 "filter cannot keep any (per_class mode).")
            n_keep = index.numel() - math.floor(index.numel() * drop_fraction)
            keep[_ranked(scores, index)[:n_keep]] = True
    else:
        index = torch.arange(labels.shape[0])
        n_keep = index.numel() - math.floor(index.numel() * drop_fraction)
        keep[_ranked(scores, index)[:n_keep]] = True
        counts = torch.bincount(labels[keep], minlength=num_classes)
        empty = [names[c] for c in range(num_classes) if counts[c] == 0]
        if empty:
            # Only the data shows this value is unusable, so it is checked here, not up front.
            raise ParameterError(
                "filter.drop_fraction",
                f"a value that leaves every class at least one image (global mode leaves "
                f"none of class(es) {empty}); lower it or use filter.mode: per_class",
                drop_fraction)
    return keep


def _mean(x: torch.Tensor) -> float | None:
    """Mean as a float, None when empty."""
    return float(x.mean()) if x.numel() else None


def filter_summary(scores: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor,
                   names: Sequence[str], drop_fraction: float, mode: str) -> dict[str, Any]:
    """Counts, cutoffs and mean scores of the kept and dropped images, overall and per class."""
    per_class = {}
    for c, name in enumerate(names):
        sel = labels == c
        ks, ds = scores[sel & keep], scores[sel & ~keep]
        per_class[name] = {
            "pool": int(sel.sum()), "kept": int(ks.numel()), "dropped": int(ds.numel()),
            "cutoff": float(ks.min()) if ks.numel() else None,
            "max_dropped_score": float(ds.max()) if ds.numel() else None,
            "mean_kept_score": _mean(ks), "mean_dropped_score": _mean(ds)}
    return {
        "drop_fraction": drop_fraction, "mode": mode,
        "rounding": ("per_class: drop floor(n_class * drop_fraction) per class"
                     if mode == "per_class" else "global: drop floor(N * drop_fraction) overall"),
        "tie_break": "rank by score (highest first), equal scores by pool index",
        "pool_size": int(keep.numel()), "kept": int(keep.sum()), "dropped": int((~keep).sum()),
        "global_cutoff": float(scores[keep].min()) if mode == "global" else None,
        "mean_kept_score": _mean(scores[keep]), "mean_dropped_score": _mean(scores[~keep]),
        "per_class": per_class}
