"""Image bundles: dicts of `images` (uint8 N×C×H×W) and `labels` (int64 N) tensors."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import torch

Bundle = dict[str, torch.Tensor]


class BundleError(ValueError):
    """An image bundle does not have the expected keys, dtypes or shapes."""


def validate_bundle(bundle: Mapping[str, Any], name: str, *,
                    image_shape: tuple[int, int, int] | None = None,
                    num_classes: int | None = None, allow_empty: bool = False) -> Bundle:
    """Check a bundle's keys, dtypes, shapes and label range; return it typed as a Bundle."""
    if not isinstance(bundle, Mapping) or not {"images", "labels"} <= set(bundle):
        keys = sorted(bundle) if isinstance(bundle, Mapping) else type(bundle).__name__
        raise BundleError(f"'{name}' must be a dict with 'images' and 'labels'; got {keys}.")
    images, labels = bundle["images"], bundle["labels"]
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        dtype = getattr(images, "dtype", type(images).__name__)
        shape = tuple(getattr(images, "shape", ()))
        raise BundleError(f"'{name}.images' must be a uint8 tensor N×C×H×W; got {dtype} {shape}.")
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.ndim != 1:
        raise BundleError(f"'{name}.labels' must be an int64 tensor of shape N.")
    if images.shape[0] != labels.shape[0]:
        raise BundleError(
            f"'{name}' has {images.shape[0]} images but {labels.shape[0]} labels."
        )
    if not allow_empty and images.shape[0] == 0:
        raise BundleError(f"'{name}' is empty.")
    if image_shape is not None and tuple(images.shape[1:]) != tuple(image_shape):
        raise BundleError(
            f"'{name}' images have shape {tuple(images.shape[1:])}, expected {tuple(image_shape)}."
        )
    if num_classes is not None and labels.numel() and (
        int(labels.min()) < 0 or int(labels.max()) >= num_classes
    ):
        raise BundleError(
            f"'{name}' labels span [{int(labels.min())}, {int(labels.max())}], "
            f"expected [0, {num_classes - 1}]."
        )
    return {"images": images, "labels": labels}


def class_counts(labels: torch.Tensor, num_classes: int) -> list[int]:
    """Count images per class."""
    return torch.bincount(labels, minlength=num_classes).tolist()


def bundle_digest(bundle: Bundle | None) -> str:
    """SHA-256 of a bundle's images and labels ('' for none)."""
    if bundle is None:
        return ""
    sha = hashlib.sha256()
    for key in ("images", "labels"):
        sha.update(bundle[key].contiguous().numpy().tobytes())
    return sha.hexdigest()


def subset(bundle: Bundle, index: torch.Tensor) -> Bundle:
    """Select images by index, keeping the bundle's dtypes."""
    return {"images": bundle["images"][index].contiguous(),
            "labels": bundle["labels"][index].contiguous()}


def to_float(images: torch.Tensor) -> torch.Tensor:
    """Map uint8 images in [0, 255] to float32 in [-1, 1]."""
    return images.float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Map float images in [-1, 1] to uint8 in [0, 255] (clamped)."""
    return images.clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(torch.uint8)
