"""FID and Inception Score of a synthetic image set with torchmetrics, on given feature modules
(InceptionV3 or the evaluator network, see `feature_extractors`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from genaug.common.seeding import derive_seed


def subsample(images: torch.Tensor, limit: int | None, seed: int, salt: str) -> torch.Tensor:
    """The images, or a seeded random subset of `limit` of them (in order) when there are more."""
    if limit is None or images.shape[0] <= limit:
        return images
    gen = torch.Generator().manual_seed(derive_seed(seed, "evaluation", salt))
    return images[torch.sort(torch.randperm(images.shape[0], generator=gen)[:limit]).values]


def stratified_like(pool: dict[str, torch.Tensor], labels: torch.Tensor, num_classes: int,
                    seed: int, salt: str) -> dict[str, torch.Tensor]:
    """A seeded draw from `pool` with the class counts of `labels` (capped at what it holds)."""
    want = torch.bincount(labels, minlength=num_classes)
    gen = torch.Generator().manual_seed(derive_seed(seed, "evaluation", salt))
    parts = []
    for c in range(num_classes):
        idx = torch.nonzero(pool["labels"] == c, as_tuple=False).flatten()
        parts.append(idx[torch.randperm(idx.numel(), generator=gen)[:int(want[c])]])
    index = torch.sort(torch.cat(parts)).values
    return {"images": pool["images"][index], "labels": pool["labels"][index]}


# torchmetrics' FrechetInceptionDistance states that summarise the real (reference) images.
REFERENCE_STATES = ("real_features_sum", "real_features_cov_sum", "real_features_num_samples")


def reference_statistics(reference: torch.Tensor, features: nn.Module, batch_size: int,
                         device: torch.device) -> dict[str, torch.Tensor]:
    """The FID metric's real-image states (feature sum, covariance sum, count) of `reference`,
    accumulated batch by batch exactly as `fid_and_inception_score` does."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=features, normalize=False).to(device)
    with torch.no_grad():
        for i in range(0, reference.shape[0], batch_size):
            fid.update(reference[i:i + batch_size].to(device), real=True)
    return {name: getattr(fid, name).detach().cpu().clone() for name in REFERENCE_STATES}


def fid_and_inception_score(reference: torch.Tensor | Mapping[str, torch.Tensor],
                            fake: torch.Tensor, features: nn.Module, logits: nn.Module,
                            batch_size: int, device: torch.device, splits: int, seed: int
                            ) -> tuple[float | None, float | None, float | None]:
    """FID(fake vs reference) and IS (mean, std over splits) of `fake` with the given modules.

    `reference` is the real images, or their `reference_statistics` computed once (the same
    numbers without extracting the reference features again). All None when either set has
    fewer than two images. The IS split shuffle is seeded from `seed` without touching the
    global torch RNG.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore

    n_reference = int(reference["real_features_num_samples"]) \
        if isinstance(reference, Mapping) else reference.shape[0]
    if fake.shape[0] < 2 or n_reference < 2:
        return None, None, None
    fid = FrechetInceptionDistance(feature=features, normalize=False).to(device)
    n_splits = max(1, min(splits, fake.shape[0] // 2))
    is_metric = InceptionScore(feature=logits, splits=n_splits, normalize=False).to(device)
    with torch.no_grad():
        if isinstance(reference, Mapping):
            for name in REFERENCE_STATES:  # metric states are plain attributes of the metric
                setattr(fid, name, reference[name].to(device))
        else:
            for i in range(0, reference.shape[0], batch_size):
                fid.update(reference[i:i + batch_size].to(device), real=True)
        for i in range(0, fake.shape[0], batch_size):
            batch = fake[i:i + batch_size].to(device)
            fid.update(batch, real=False)
            is_metric.update(batch)
        fid_value = float(fid.compute())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "inception_score"))
            is_mean, is_std = is_metric.compute()
    is_std = float(is_std) if n_splits > 1 else 0.0
    return max(fid_value, 0.0), float(is_mean), is_std


def finite_or_none(value: float | None) -> float | None:
    """JSON-safe float: None for None/NaN/inf."""
    return None if value is None or not math.isfinite(value) else float(value)
