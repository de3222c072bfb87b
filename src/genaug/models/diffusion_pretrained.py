"""Open-set generators: a pretrained diffusers text-to-image pipeline on this machine, its
provenance digest, its dtype, and a sampler that prompts it per class in batches of its own and
converts its images to the dataset's channels and size."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from genaug.common.seeding import derive_seed
from genaug.models.diffusion import build_sampling_scheduler
from genaug.models.diffusion_memory import GIB, pipeline_memory_estimate

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def pretrained_digest(path: str | Path) -> str:
    """Hash a local diffusers pipeline folder's config/json files (cheap provenance)."""
    root = Path(path)
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.json")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def resolve_pretrained_dtype(name: str, device: torch.device) -> str:
    """A DTYPES key: `auto` is float16 on CUDA and float32 elsewhere (CPU, MPS); logged."""
    if name != "auto":
        return name
    chosen = "float16" if device.type == "cuda" else "float32"
    logger.info("pretrained dtype auto -> %s on %s", chosen, device.type)
    return chosen


def load_pretrained_pipeline(path: str | Path, scheduler: str | None, device: torch.device,
                             dtype: torch.dtype = torch.float32):
    """Load a local diffusers pipeline folder (scheduler swapped, VAE slicing on)."""
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(str(path), local_files_only=True, dtype=dtype)
    if scheduler is not None:
        pipe.scheduler = build_sampling_scheduler(scheduler, pipe.scheduler.config)
    if hasattr(pipe, "safety_checker"):
        pipe.safety_checker = None
    vae = getattr(pipe, "vae", None)
    if hasattr(vae, "use_slicing"):
        # Decoding a whole batch at 512² holds ~0.4 GB per image in fp16 (diffusion_memory);
        # one at a time bounds it whatever pretrained.batch_size is.
        vae.enable_slicing()
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


class PretrainedSampler:
    """A loaded text-to-image pipeline prompted per class, `batch_size` prompts per call.

    `settings` are the generator's effective pretrained settings with the folder and dtype
    its reference recorded (see diffusion_sampling.pretrained_settings).
    """

    def __init__(self, settings: Mapping[str, Any], scheduler: str, steps: int,
                 device: torch.device, class_names: list[str],
                 image_shape: tuple[int, int, int]) -> None:
        self.settings, self.steps, self.device = settings, steps, device
        self.class_names, self.image_shape = class_names, image_shape
        logger.info("loading pretrained pipeline from %s in %s", settings["path"],
                    settings["dtype"])
        self.pipe = load_pretrained_pipeline(settings["path"], scheduler, device,
                                             DTYPES[settings["dtype"]])
        estimate = pipeline_memory_estimate(self.pipe, settings["batch_size"],
                                            settings["resolution"],
                                            guided=settings["guidance_scale"] > 1.0)
        logger.info("pretrained sampling, %d prompts per call at %s: peak memory estimate %s",
                    settings["batch_size"], settings["resolution"] or "the default size",
                    "unknown (no resolution, no UNet)" if estimate is None
                    else estimate.describe())
        self._measured = device.type != "cuda"  # only CUDA reports a peak to compare with
        if not self._measured:
            torch.cuda.reset_peak_memory_stats(device)  # this pipeline's peak, not the process's

    def sample(self, labels: torch.Tensor, shard_seed: int) -> torch.Tensor:
        """The shard's images (uint8, dataset-shaped), one generator per image."""
        s, (c, h, w) = self.settings, self.image_shape
        extra: dict[str, Any] = {}
        if s["resolution"] is not None:
            extra["height"] = extra["width"] = s["resolution"]
        out = []
        bar = tqdm(total=labels.numel(), desc="sample pool shard", unit="img", leave=False,
                   mininterval=2.0)
        for lo in range(0, labels.numel(), s["batch_size"]):
            batch = labels[lo:lo + s["batch_size"]].tolist()
            prompts = [s["prompt_template"].format(**{"class": self.class_names[y]})
                       for y in batch]
            if s["negative_prompt"]:
                extra["negative_prompt"] = [s["negative_prompt"]] * len(batch)
            # One generator per image (seeded by shard seed and position): batch-size independent.
            gens = [torch.Generator().manual_seed(derive_seed(shard_seed, lo + j))
                    for j in range(len(batch))]
            result = self.pipe(prompt=prompts, num_inference_steps=self.steps,
                               guidance_scale=s["guidance_scale"], generator=gens,
                               output_type="pt", **extra)
            out.append(to_dataset_images(result.images, c, h, w))
            self._log_measured_peak()
            bar.update(len(batch))
        bar.close()
        return torch.cat(out)

    def _log_measured_peak(self) -> None:
        """On CUDA, once: the allocator's peak since loading, beside the estimate."""
        if not self._measured:
            self._measured = True
            logger.info("pretrained sampling: torch.cuda.max_memory_allocated after the first "
                        "batch %.2f GiB", torch.cuda.max_memory_allocated(self.device) / GIB)
