"""Activation factors of the pretrained pipeline's memory estimate (genaug.models.diffusion_memory).

Usage (from the project root):
    .venv/bin/python benchmarks/bench_pretrained_memory.py [--threads 1]

Counts the bytes of live tensors (every aten op's outputs, freed when their storage dies) during
one UNet forward and one VAE decode of Stable Diffusion 1.x's topology with its channel widths
cut to a tenth or a fifth (UNet), an eighth or a quarter (VAE) (random weights, CPU, fp32, no
grad). Activation bytes are close to linear in the width, so the peak divided by (images × latent
or image area × first block width × bytes per element) is a width-free factor: the UNET_FACTOR
and VAE_FACTOR of the estimate. What this does not see: cuDNN workspaces and the CUDA caching
allocator's rounding (the sampler logs torch.cuda.max_memory_allocated after its first batch to
compare).
"""

from __future__ import annotations

import argparse
import platform
import weakref
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from _common import load_average, write_result
from genaug.models import diffusion_memory as M


class LiveBytes(TorchDispatchMode):
    """Peak bytes of tensor storages created inside the mode and still alive."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: dict[int, int] = {}
        self.now = self.peak = 0

    def _free(self, key: int) -> None:
        """A storage died: its bytes are no longer live."""
        self.now -= self.sizes.pop(key)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        """Run the op; count the storages it creates until they are freed."""
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key and key not in self.sizes:
                    self.sizes[key] = storage.nbytes()
                    self.now += storage.nbytes()
                    self.peak = max(self.peak, self.now)
                    weakref.finalize(storage, self._free, key)
        return out


def sd1_unet(width: int) -> UNet2DConditionModel:
    """SD 1.x's UNet topology (CompVis/stable-diffusion-v1-4 config) at first-block `width`."""
    return UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(width, 2 * width, 4 * width, 4 * width),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=768, attention_head_dim=8, norm_num_groups=min(32, width))


def sd1_vae(width: int) -> AutoencoderKL:
    """SD 1.x's VAE topology at first-block `width`."""
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
        block_out_channels=(width, 2 * width, 4 * width, 4 * width),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        norm_num_groups=min(32, width))


@torch.inference_mode()
def unet_factor(width: int, latent: int, batch: int) -> float:
    """Peak live bytes of one UNet forward / (batch × latent² × width × 4 bytes)."""
    unet = sd1_unet(width).eval()
    x = torch.randn(batch, 4, latent, latent)
    context = torch.randn(batch, 77, 768)
    with LiveBytes() as live:
        unet(x, 10, encoder_hidden_states=context)
    return live.peak / (batch * latent * latent * width * 4)


@torch.inference_mode()
def vae_factor(width: int, latent: int) -> float:
    """Peak live bytes of one VAE decode / (image² × width × 4 bytes), one image."""
    vae = sd1_vae(width).eval()
    z = torch.randn(1, 4, latent, latent)
    with LiveBytes() as live:
        vae.decode(z)
    side = latent * 8
    return live.peak / (side * side * width * 4)


def main() -> None:
    """Measure both factors at two widths and sizes; write the table, print a SUMMARY line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = load_average()
    rows = [("UNet", 32, 32, 2, unet_factor(32, 32, 2)),
            ("UNet", 64, 32, 2, unet_factor(64, 32, 2)),
            ("UNet", 32, 64, 2, unet_factor(32, 64, 2)),
            ("VAE decode", 16, 32, 1, vae_factor(16, 32)),
            ("VAE decode", 32, 32, 1, vae_factor(32, 32)),
            ("VAE decode", 16, 64, 1, vae_factor(16, 64))]
    lines = ["# Activation factors of the pretrained pipeline's memory estimate", "",
             "Command: `.venv/bin/python benchmarks/bench_pretrained_memory.py "
             f"--threads {args.threads}`", "",
             f"machine: {platform.machine()}, torch {torch.__version__}, CPU fp32, no grad. "
             f"Load average {load_before} -> {load_average()}.", "",
             "SD 1.x topology with narrow widths (random weights). Factor = peak live bytes / "
             "(images × area × first block width × 4 bytes); area = latent² for the UNet, "
             "(8 × latent)² for the VAE.", "",
             "| network | first block width | latent side | images | factor |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {net} | {w} | {lat} | {n} | {f:.2f} |" for net, w, lat, n, f in rows]
    lines += ["", f"Used by the estimate: UNET_FACTOR = {M.UNET_FACTOR}, "
              f"VAE_FACTOR = {M.VAE_FACTOR}."]
    print(write_result("pretrained_memory", "\n".join(lines) + "\n").read_text())
    unet = [f for net, *_, f in rows if net == "UNet"]
    vae = [f for net, *_, f in rows if net != "UNet"]
    print(f"SUMMARY: UNet factor {min(unet):.2f}-{max(unet):.2f}, VAE factor "
          f"{min(vae):.2f}-{max(vae):.2f} (the estimate uses {M.UNET_FACTOR}, {M.VAE_FACTOR})")


if __name__ == "__main__":
    main()
