"""Open-set generators: a local pretrained diffusers text-to-image pipeline, its provenance
digest, and its images converted to the dataset's channels and size."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F

from genaug.models.diffusion import build_sampling_scheduler


def pretrained_digest(path: str | Path) -> str:
    """Hash a local diffusers pipeline folder's config/json files (cheap provenance)."""
    root = Path(path)
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.json")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def load_pretrained_pipeline(path: str | Path, scheduler: str | None, device: torch.device,
                             dtype: torch.dtype = torch.float32):
    """Load a local diffusers text-to-image pipeline, optionally swapping its scheduler."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(path), local_files_only=True, dtype=dtype)
    if scheduler is not None:
        pipe.scheduler = build_sampling_scheduler(scheduler, pipe.scheduler.config)
    if hasattr(pipe, "safety_checker"):
        pipe.safety_checker = None
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def to_dataset_images(images: torch.Tensor, channels: int, height: int,
                      width: int) -> torch.Tensor:
    """Convert B×3×h×w floats in [0, 1] to the dataset's C×H×W uint8 (grayscale + resize)."""
    x = images.float().clamp(0.0, 1.0)
    if x.shape[1] == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
        x = (x * weights).sum(1, keepdim=True)
    elif x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    if tuple(x.shape[-2:]) != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True,
                          align_corners=False)
    return x.clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8).cpu()
