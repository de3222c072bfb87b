"""The pretrained pipeline's peak memory estimate: the documented formula and its inputs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from genaug.models import diffusion_memory as M

# Stable Diffusion 1.5's parameter counts (UNet, VAE, CLIP ViT-L/14 text encoder).
SD15_PARAMETERS = 859_520_964 + 83_653_863 + 123_060_480


def test_sd15_defaults_fit_a_24_gb_card():
    """conf/base's defaults (512², 16 prompts, guidance, float16) on SD 1.5: docs/gpu.md's sums."""
    est = M.sampling_memory_estimate(SD15_PARAMETERS * 2, 2, 16, 512, guided=True,
                                     unet_width=320, vae_width=128, vae_scale=8, decoded=1)
    assert est.unet == 26 * 32 * 64 * 64 * 320 * 2
    assert est.vae == (6 * 512 * 512 * 128 + 3 * 16 * 3 * 512 * 512) * 2
    assert est.peak == est.weights + est.unet
    assert round(est.peak / M.GIB, 2) == 4.02 and est.peak < 24e9
    assert est.describe().startswith("4.02 GiB = weights 1.99 + max(UNet activations 2.03")


def test_terms_scale_with_batch_guidance_and_dtype():
    """Guidance doubles the UNet's rows; decoding the whole batch at once grows the VAE term."""
    def estimate(**changes):
        kwargs = {"weight_bytes": 0, "element_bytes": 2, "batch_size": 16, "resolution": 512,
                  "guided": True, "unet_width": 320, "vae_width": 128, "vae_scale": 8,
                  "decoded": 1} | changes
        return M.sampling_memory_estimate(**kwargs)

    base = estimate()
    assert estimate(guided=False).unet * 2 == base.unet
    assert estimate(batch_size=32, guided=False).unet == base.unet
    assert estimate(element_bytes=4).unet == 2 * base.unet
    assert estimate(decoded=16).vae > 10 * base.vae
    assert estimate(unet_width=None).unet is None
    assert "not estimated" in estimate(unet_width=None).describe()


def _tiny_pipeline(dtype: torch.dtype = torch.float32) -> SimpleNamespace:
    """A stand-in with a diffusers pipeline's `components`, `unet` and `vae` (16×16 images)."""
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
        attention_head_dim=4, norm_num_groups=4).to(dtype)
    vae = AutoencoderKL(block_out_channels=(4, 8), in_channels=3, out_channels=3,
                        down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4,
                        norm_num_groups=4).to(dtype)
    text_encoder = torch.nn.Linear(16, 16).to(dtype)
    return SimpleNamespace(unet=unet, vae=vae, components={
        "unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": object(),
        "scheduler": object()})


def test_pipeline_estimate_reads_the_loaded_pipeline():
    """Weights are the modules' bytes; widths, scale and default size come from the configs."""
    pipe = _tiny_pipeline()
    modules = [pipe.unet, pipe.vae, pipe.components["text_encoder"]]
    weights = sum(t.numel() * 4 for m in modules for t in (*m.parameters(), *m.buffers()))
    est = M.pipeline_memory_estimate(pipe, 3, None, guided=True)  # default: 8 × 2 = 16
    assert est == M.sampling_memory_estimate(weights, 4, 3, 16, guided=True, unet_width=8,
                                             vae_width=4, vae_scale=2, decoded=3)
    pipe.vae.enable_slicing()
    sliced = M.pipeline_memory_estimate(pipe, 3, 32, guided=False)
    assert sliced == M.sampling_memory_estimate(weights, 4, 3, 32, guided=False, unet_width=8,
                                                vae_width=4, vae_scale=2, decoded=1)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_halves_every_term(dtype):
    """Loaded in 16 bits, weights and activations take half the float32 bytes."""
    full = M.pipeline_memory_estimate(_tiny_pipeline(), 4, 16, guided=True)
    half = M.pipeline_memory_estimate(_tiny_pipeline(dtype), 4, 16, guided=True)
    assert (2 * half.weights, 2 * half.unet, 2 * half.vae) == (full.weights, full.unet,
                                                               full.vae)


def test_no_estimate_without_a_size():
    """A pipeline without a UNet and no resolution has no size to estimate at."""
    pipe = SimpleNamespace(components={"transformer": torch.nn.Linear(2, 2)})
    assert M.pipeline_memory_estimate(pipe, 4, None, guided=True) is None
    est = M.pipeline_memory_estimate(pipe, 4, 64, guided=True)
    assert est.unet is None and est.vae == 0 and est.weights == 6 * 4
