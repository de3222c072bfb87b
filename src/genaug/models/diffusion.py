"""Diffusion generators: a closed-set class-conditional UNet and an open-set text-to-image pipeline.

Closed set (the embedded default): a diffusers ``UNet2DModel`` with a class embedding
(``num_class_embeds = K + 1``; id ``K`` is the "null" class used for classifier-free guidance),
trained on ``real_train`` only with one of the objectives of ``diffusion_objectives`` (DDPM
epsilon, the original default; DDPM v-prediction with min-SNR weighting; EDM preconditioning),
with EMA weights from diffusers' ``EMAModel``. Images are padded to ``sample_size`` (e.g.
28 -> 32) with the background value so the UNet can downsample cleanly, and cropped back after
sampling. Sampling uses a fast scheduler (DPM-Solver++ or DDIM) built from the training
scheduler's config.

The trained generator is stored as one flat dict of tensors (a safetensors file): the EMA
weights under ``unet.<name>`` and a JSON description (UNet config, training scheduler config,
class count, image shape, padding, the `prediction` objective; a generator stored before
that key existed is epsilon) as a uint8 tensor under ``meta.config``, so it is rebuilt
from the file alone with ``UNet2DModel.from_config`` + ``load_state_dict`` (no pickle).

Open set: a diffusers text-to-image pipeline on this machine, a folder or a hub id already in
the local hub cache (``DiffusionPipeline.from_pretrained(folder, local_files_only=True)``),
prompted per class (``diffusion_pretrained``); outputs are converted to the dataset's channels
and size. Its catalog entry is a light reference (folder, hashes of the pipeline's config
files, resolved dtype), not a copy of the weights.

This module holds the building blocks; ``diffusion_training`` (make the generator) and
``diffusion_sampling`` (make the pool, shard by shard) are the procedures the nodes call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EDMDPMSolverMultistepScheduler,
    EDMEulerScheduler,
    UNet2DModel,
)
from diffusers.optimization import get_cosine_schedule_with_warmup
from diffusers.training_utils import EMAModel

from genaug.common.precision import autocast, cuda_math
from genaug.models.training_state import CheckpointStore, LoopCheckpoints, Progress

SCHEDULERS = ("dpmsolver++", "ddim", "ddpm", "edm_euler", "edm_dpmsolver++")
# The samplers of the `edm` objective (the meta's `prediction`); the others need a DDPM config.
EDM_SCHEDULERS = ("edm_euler", "edm_dpmsolver++")
META_KEY = "meta.config"
LOSS_KEY = "meta.loss_history"
UNET_PREFIX = "unet."


# ----------------------------------------------------------------------------- building
def build_unet(num_classes: int, channels: int, sample_size: int,
               block_out_channels: Sequence[int], layers_per_block: int,
               norm_num_groups: int, attention: bool = False) -> UNet2DModel:
    """A small class-conditional UNet2DModel with a null class id for classifier-free guidance."""
    n = len(block_out_channels)
    down = ["DownBlock2D"] * n
    up = ["UpBlock2D"] * n
    if attention and n > 1:
        down[-1] = "AttnDownBlock2D"
        up[0] = "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=sample_size,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=tuple(block_out_channels),
        layers_per_block=layers_per_block,
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        norm_num_groups=norm_num_groups,
        num_class_embeds=num_classes + 1,
    )


def build_train_scheduler(num_train_timesteps: int, beta_schedule: str,
                          prediction_type: str = "epsilon") -> DDPMScheduler:
    """The DDPM noise scheduler used for training (epsilon or v prediction)."""
    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=beta_schedule,
                         prediction_type=prediction_type, clip_sample=True)


class Objective(Protocol):
    """A training objective (``diffusion_objectives``): its noise-level draw and its loss."""

    def draw_levels(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Per-sample noise levels (DDPM timesteps or EDM sigmas) from a CPU generator."""

    def loss(self, unet: UNet2DModel, x0: torch.Tensor, labels: torch.Tensor,
             noise: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """The batch loss for clean images x0 at the given noise levels."""


def build_sampling_scheduler(name: str, config: Mapping[str, Any], *,
                             pixel_space: bool = False):
    """A sampling scheduler (one of SCHEDULERS) built from a scheduler config.

    `dpmsolver++`, `ddim` and `ddpm` take a DDPM config (epsilon or v prediction); the EDM
    samplers take the EDMEulerScheduler config an `edm` generator stores. For pixel-space
    models (the closed-set UNet) both DPM-Solvers clip their x0 predictions to [-1, 1]
    (`thresholding` with `sample_max_value=1`, as DDIM/DDPM do with `clip_sample`): with the
    capped cosine schedule alpha_T is ~1e-9, and without clipping the first data-prediction
    step amplifies the noise-prediction error into saturated images.
    """
    extra = {"thresholding": True, "sample_max_value": 1.0} if pixel_space else {}
    if name == "dpmsolver++":
        return DPMSolverMultistepScheduler.from_config(dict(config),
                                                       algorithm_type="dpmsolver++", **extra)
    if name == "edm_euler":
        return EDMEulerScheduler.from_config(dict(config))
    if name == "edm_dpmsolver++":
        return EDMDPMSolverMultistepScheduler.from_config(dict(config),
                                                          algorithm_type="dpmsolver++", **extra)
    if name == "ddim":
        return DDIMScheduler.from_config(dict(config))
    if name == "ddpm":
        return DDPMScheduler.from_config(dict(config))
    raise ValueError(f"unknown scheduler {name!r}; expected one of {SCHEDULERS}")


# ----------------------------------------------------------------------------- padding
def pad_amounts(height: int, width: int, sample_size: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) padding that centres an H×W image in sample_size²."""
    dh, dw = sample_size - height, sample_size - width
    return dw // 2, dw - dw // 2, dh // 2, dh - dh // 2


def pad_images(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """Pad float images in [-1, 1] with -1 (the black background) to the UNet's size."""
    return F.pad(x, pads, value=-1.0) if any(pads) else x


def crop_images(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """Undo pad_images."""
    left, right, top, bottom = pads
    return x[..., top:x.shape[-2] - bottom, left:x.shape[-1] - right]


# ----------------------------------------------------------------------------- training
def draw_batch(images: torch.Tensor, labels: torch.Tensor, *, batch_size: int, num_classes: int,
               label_dropout: float, hflip: bool, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch (with replacement): images, flipped at random with `hflip`, and labels,
    some replaced by the null class `num_classes` (probability `label_dropout`)."""
    device = images.device  # draws come from the CPU generator; the gather is on the device
    idx = torch.randint(0, images.shape[0], (batch_size,), generator=generator).to(device)
    x0, y = images[idx], labels[idx].clone()
    if hflip:
        flip = (torch.rand(batch_size, generator=generator) < 0.5).to(device)
        x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
    if label_dropout > 0:
        y[(torch.rand(batch_size, generator=generator) < label_dropout).to(device)] = num_classes
    return x0, y


def train_unet(unet: UNet2DModel, objective: Objective, images: torch.Tensor,
               labels: torch.Tensor, *, num_classes: int, steps: int, batch_size: int,
               lr: float, warmup_steps: int, weight_decay: float, ema_decay: float,
               label_dropout: float, hflip: bool, generator: torch.Generator,
               device: torch.device, log_every: int = 100, precision: str = "fp32",
               checkpoints: CheckpointStore | None = None, checkpoint_every: int | None = None
               ) -> tuple[EMAModel, list[float]]:
    """Train the UNet on padded float images in [-1, 1]; return its EMA and the loss history.

    `objective` (``diffusion_objectives``) says what the UNet predicts and how the loss is
    weighted. All randomness (batches, flips, label dropout, noise, noise levels) comes from
    `generator` (a CPU generator), so a run is reproducible on CPU whatever the global RNG
    state. `precision` (resolved: fp32 or bf16) autocasts the loss's forward pass only. With
    `checkpoints` and `checkpoint_every`, it resumes from the latest checkpoint and saves one
    every that many steps and after the last: a resumed run ends bit-identical on CPU.
    """
    unet.to(device).train()
    images, labels = images.to(device), labels.to(device)  # batches are gathered on the device
    ema = EMAModel(unet.parameters(), decay=ema_decay, use_ema_warmup=True)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=weight_decay)
    lr_sched = get_cosine_schedule_with_warmup(optimizer, warmup_steps, steps)
    loop = LoopCheckpoints(checkpoints, checkpoint_every, steps, {
        "unet": unet, "optimizer": optimizer, "lr_scheduler": lr_sched, "ema": ema},
        generator, device)
    with loop.global_rng(), cuda_math(precision, device):
        done, values = loop.resume()
        ema.to(device)  # a restored shadow is on the CPU
        history: list[float] = list(values.get("history", []))
        with Progress("generator", steps, history, log_every) as progress:
            for step in range(done, steps):
                x0, y = draw_batch(images, labels, batch_size=batch_size, num_classes=num_classes,
                                   label_dropout=label_dropout, hflip=hflip, generator=generator)
                noise = torch.randn(x0.shape, generator=generator)
                levels = objective.draw_levels(batch_size, generator)
                with autocast(precision, device):
                    loss = objective.loss(unet, x0, y, noise.to(device), levels.to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
                optimizer.step()
                lr_sched.step()
                ema.step(unet.parameters())
                history.append(float(loss.detach()))
                progress.update(step + 1, history[-1], lr_sched.get_last_lr()[0])
                loop.save_if_due(step + 1, {"history": history})
    return ema, history


# ----------------------------------------------------------------------------- sampling
@torch.inference_mode()
def sample_unet(unet: UNet2DModel, scheduler, labels: torch.Tensor, noise: torch.Tensor, *,
                steps: int, guidance_scale: float, null_class: int,
                device: torch.device, precision: str = "fp32") -> torch.Tensor:
    """Denoise `noise` (B×C×S×S) into images in [-1, 1] conditioned on `labels`.

    With guidance_scale != 1, the conditional and unconditional (null class) predictions
    are computed in one doubled batch and combined as u + s·(c − u). `precision` (resolved)
    autocasts the UNet's forward pass; the scheduler's update stays in fp32.
    """
    scheduler.set_timesteps(steps, device=device)
    x = noise.to(device) * scheduler.init_noise_sigma
    y = labels.to(device)
    guided = guidance_scale != 1.0
    if guided:
        y = torch.cat([y, torch.full_like(y, null_class)])
    for t in scheduler.timesteps:
        inp = torch.cat([x, x]) if guided else x
        inp = scheduler.scale_model_input(inp, t)
        with autocast(precision, device):
            eps = unet(inp, t, class_labels=y).sample.float()
        if guided:
            cond, uncond = eps.chunk(2)
            eps = uncond + guidance_scale * (cond - uncond)
        x = scheduler.step(eps, t, x).prev_sample
    return x.clamp(-1.0, 1.0)


# ----------------------------------------------------------------------------- storage
def pack_generator(unet: UNet2DModel, meta: Mapping[str, Any],
                   loss_history: Sequence[float] | None = None) -> dict[str, torch.Tensor]:
    """Flatten a UNet and its description into a dict of tensors for a safetensors file."""
    state = {UNET_PREFIX + k: v.detach().cpu().contiguous().clone()
             for k, v in unet.state_dict().items()}
    state[META_KEY] = encode_json(meta)
    if loss_history is not None:
        state[LOSS_KEY] = torch.tensor(list(loss_history), dtype=torch.float32)
    return state


def encode_json(meta: Mapping[str, Any]) -> torch.Tensor:
    """JSON-encode a mapping into a uint8 tensor (safetensors holds tensors only)."""
    raw = json.dumps(meta, sort_keys=True).encode("utf-8")
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).clone()


def decode_meta(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Read the JSON description stored by pack_generator / a pretrained reference."""
    if META_KEY not in state:
        raise ValueError(f"the generator has no '{META_KEY}' entry; it was not written by genaug")
    return json.loads(bytes(state[META_KEY].to(torch.uint8).tolist()).decode("utf-8"))


def unpack_unet(state: Mapping[str, torch.Tensor]) -> tuple[UNet2DModel, dict[str, Any]]:
    """Rebuild the closed-set UNet (EMA weights) and its description from pack_generator's dict."""
    meta = decode_meta(state)
    unet = UNet2DModel.from_config(meta["unet_config"])
    weights = {k[len(UNET_PREFIX):]: v for k, v in state.items() if k.startswith(UNET_PREFIX)}
    unet.load_state_dict(weights, strict=True)
    unet.eval()
    return unet, meta


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """A SHA-256 over every tensor's name, dtype, shape and bytes (the generator's identity)."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def stable_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers config whose `_use_default_values` list is sorted.

    diffusers builds that list from a set, so its order changes from process to process;
    unsorted, the same weights would get a different digest (and defeat pool resumption).
    The list itself must stay: `from_config` uses it to give a different scheduler class
    (DPM-Solver++ from the training DDPM config) its own defaults for those keys.
    """
    stable = dict(config)
    if "_use_default_values" in stable:
        stable["_use_default_values"] = sorted(stable["_use_default_values"])
    return stable
