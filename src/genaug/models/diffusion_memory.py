"""Peak accelerator memory of sampling a pretrained text-to-image pipeline: an estimate.

    peak ≈ weights + max(unet, vae)
    weights = bytes of every parameter and buffer of the pipeline's torch modules, as loaded
    unet    = UNET_FACTOR × rows × (H/f)·(W/f) × C_unet × bytes   (rows = 2 × batch with guidance)
    vae     = VAE_FACTOR × decoded × H·W × C_vae × bytes + IMAGE_COPIES × batch × 3·H·W × bytes

with H×W the generation size, f the VAE's downsampling (8 for SD), C_unet and C_vae the first
block widths of the UNet and the VAE, `bytes` per element of the loaded dtype and `decoded` the
images the VAE decodes at once (1 with VAE slicing, which the loader turns on). The UNet and the
VAE run one after the other, so their activations do not add up.

The factors were measured, not derived: benchmarks/bench_pretrained_memory.py counts the live
tensor bytes of one UNet forward and one VAE decode of SD 1.x's topology at a tenth and a fifth
of its width on CPU (26.0 and 6.0, the same at both widths and two sizes; the UNet's peak is the
GEGLU feed-forward of the first level's transformers). They hold for SD 1.x and 2.x (same block
layout) with attention that does not store the score matrix (PyTorch's SDPA kernels, diffusers'
default); other topologies (SDXL) are only roughly covered. Not counted: cuDNN workspaces, the
CUDA caching allocator's rounding and the CUDA context, so compare with the
torch.cuda.max_memory_allocated the sampler logs after its first batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

UNET_FACTOR = 26.0
VAE_FACTOR = 6.0
# The decoded batch lives as the VAE's slices, their concatenation and the post-processed images.
IMAGE_COPIES = 3
GIB = 2**30


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimate's terms in bytes; unet is None for a pipeline without a UNet (not estimated)."""

    weights: int
    unet: int | None
    vae: int

    @property
    def peak(self) -> int:
        """Weights plus the larger of the two activation terms."""
        return self.weights + max(self.unet or 0, self.vae)

    def describe(self) -> str:
        """One log line: peak and terms in GiB."""
        unet = ("not estimated (no UNet)" if self.unet is None
                else f"{self.unet / GIB:.2f}")
        return (f"{self.peak / GIB:.2f} GiB = weights {self.weights / GIB:.2f} + max(UNet "
                f"activations {unet}, VAE decode {self.vae / GIB:.2f})")


def sampling_memory_estimate(weight_bytes: int, element_bytes: int, batch_size: int,
                             resolution: int, *, guided: bool, unet_width: int | None,
                             vae_width: int | None, vae_scale: int,
                             decoded: int) -> MemoryEstimate:
    """The formula above from plain numbers (a width of None leaves that part out)."""
    rows = batch_size * (2 if guided else 1)
    area = resolution * resolution
    unet = (None if unet_width is None else
            round(UNET_FACTOR * rows * (resolution // vae_scale) ** 2 * unet_width
                  * element_bytes))
    vae = 0 if vae_width is None else round(
        (VAE_FACTOR * decoded * area * vae_width + IMAGE_COPIES * batch_size * 3 * area)
        * element_bytes)
    return MemoryEstimate(weight_bytes, unet, vae)


def pipeline_memory_estimate(pipe: Any, batch_size: int, resolution: int | None, *,
                             guided: bool) -> MemoryEstimate | None:
    """The estimate for a loaded diffusers pipeline; None = no size known (no resolution, no UNet).

    A resolution of None is the UNet's default size, as diffusers' SD pipelines pick it.
    """
    modules = [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]
    tensors = [t for m in modules for t in (*m.parameters(), *m.buffers())]
    unet, vae = getattr(pipe, "unet", None), getattr(pipe, "vae", None)
    vae_blocks = getattr(getattr(vae, "config", None), "block_out_channels", None)
    vae_scale = 2 ** (len(vae_blocks) - 1) if vae_blocks else 1
    if resolution is None and unet is None:
        return None
    resolution = resolution or unet.config.sample_size * vae_scale
    element_bytes = next(t for t in tensors if t.is_floating_point()).element_size()
    return sampling_memory_estimate(
        sum(t.numel() * t.element_size() for t in tensors), element_bytes,
        batch_size, resolution, guided=guided,
        unet_width=unet.config.block_out_channels[0] if unet is not None else None,
        vae_width=vae_blocks[0] if vae_blocks else None, vae_scale=vae_scale,
        decoded=1 if getattr(vae, "use_slicing", False) else batch_size)
