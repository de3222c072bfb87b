"""Sample the synthetic pool shard by shard from a stored generator (closed set or pretrained).

Every shard is seeded on its own (``derive_seed(seed, "pool", index)``), so any shard can be
made alone, in any order, by any process, and a resumed or distributed pool (parts made on
several Dask workers) equals an uninterrupted sequential one. The pool's identity
(:func:`pool_fingerprint`) names the staged shards a resumed run may reuse.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import torch
from tqdm.auto import tqdm

from genaug.common.bundles import Bundle, to_uint8
from genaug.common.hub import local_pipeline_folder
from genaug.common.precision import memory_format, resolve_precision
from genaug.common.seeding import derive_seed
from genaug.common.threads import torch_threads
from genaug.common.validation import ParameterError
from genaug.models import diffusion as D
from genaug.models import diffusion_pretrained as P
from genaug.schemas.synthesis import PoolParams, SynthesisParams

logger = logging.getLogger(__name__)

def pool_per_class(pool: PoolParams, num_real: int, num_classes: int) -> int:
    """Images per class in the pool: pool.per_class, or multiple_of_real × real per class."""
    if pool.per_class is not None:
        return pool.per_class
    return math.ceil(pool.multiple_of_real * num_real / num_classes)


def pretrained_settings(params: SynthesisParams) -> dict[str, Any] | None:
    """The pretrained pipeline's effective settings (folder found, guidance filled in)."""
    if params.generator.kind != "pretrained":
        return None
    pr = params.pretrained
    return {"path": str(local_pipeline_folder(pr.path)), "prompt_template": pr.prompt_template,
            "negative_prompt": pr.negative_prompt, "resolution": pr.resolution,
            "batch_size": pr.batch_size,
            "guidance_scale": (params.sampling.guidance_scale if pr.guidance_scale is None
                               else pr.guidance_scale),
            "dtype": pr.dtype}


def pool_fingerprint(generator: Mapping[str, torch.Tensor], params: SynthesisParams, seed: int,
                     class_names: list[str], image_shape: tuple[int, ...],
                     per_class: int) -> str:
    """Identity of a pool generation: generator digest + sampling/pool params + seed."""
    # A pretrained pipeline's batch is pretrained.batch_size (in pretrained_settings).
    unused = {"batch_size"} if params.generator.kind == "pretrained" else None
    spec = {"generator": D.state_digest(generator), "kind": params.generator.kind,
            "sampling": params.sampling.model_dump(exclude=unused),
            "pretrained": pretrained_settings(params),
            "per_class": per_class, "shard_size": params.pool.shard_size, "seed": seed,
            "class_names": class_names, "image_shape": list(image_shape)}
    raw = json.dumps(spec, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:20]


def check_sampler_fits(meta: Mapping[str, Any], scheduler: str) -> None:
    """Fail unless the sampling scheduler fits the stored generator's training objective.

    A generator stored before `prediction` was recorded is DDPM epsilon.
    """
    prediction = meta.get("prediction", "epsilon")
    if (prediction == "edm") != (scheduler in D.EDM_SCHEDULERS):
        expected = (f"one of {list(D.EDM_SCHEDULERS)}" if prediction == "edm" else
                    f"a DDPM-family scheduler, not one of {list(D.EDM_SCHEDULERS)}")
        raise ParameterError("synthesis.sampling.scheduler",
                             f"{expected} (the stored generator was trained with the "
                             f"{prediction!r} objective)", scheduler)


class PoolSampler:
    """Makes the pool's shards on demand; loads the sampling model only when a shard is made.

    A fully resumed pool therefore loads nothing heavy.
    """

    def __init__(self, generator: Mapping[str, torch.Tensor], params: SynthesisParams,
                 seed: int, class_names: list[str], image_shape: tuple[int, int, int],
                 per_class: int, device: torch.device) -> None:
        self.generator, self.params, self.seed = generator, params, seed
        self.class_names, self.image_shape, self.device = class_names, image_shape, device
        self.total = per_class * len(class_names)
        self.shard_size = params.pool.shard_size
        self.num_shards = math.ceil(self.total / self.shard_size)
        # Labels cycle through the classes, so every shard is class-balanced (up to one image).
        self.labels = torch.arange(self.total, dtype=torch.int64) % len(class_names)
        self.fingerprint = pool_fingerprint(generator, params, seed, class_names, image_shape,
                                            per_class)
        self.pretrained = pretrained_settings(params)
        if params.generator.kind == "closed_set":
            check_sampler_fits(D.decode_meta(generator), params.sampling.scheduler)
        self.model: Any = None
        self._done = 0
        self._start: float | None = None

    def shard(self, index: int) -> Bundle:
        """Make shard `index` (images and labels), reproducibly from its own seed."""
        lo, hi = index * self.shard_size, min(self.total, (index + 1) * self.shard_size)
        if self._start is None:
            self._start = time.perf_counter()
        shard_seed = derive_seed(self.seed, "pool", index)
        t0 = time.perf_counter()
        with torch_threads(self.params.num_threads):
            if self.params.generator.kind == "closed_set":
                images = self._closed_set(self.labels[lo:hi], shard_seed)
            else:
                images = self._pretrained(self.labels[lo:hi], shard_seed)
        self._done += hi - lo
        dt = time.perf_counter() - t0
        # Shards may be made in any order and by several processes (pool parts), so the rate
        # is this process's; the shards still to make are not known here.
        rate = self._done / (time.perf_counter() - self._start)
        logger.info("pool shard %d/%d: %d images in %.1f s (%.2f images/s, %.2f so far here)",
                    index + 1, self.num_shards, hi - lo, dt, (hi - lo) / dt, rate)
        return {"images": images, "labels": self.labels[lo:hi].clone()}

    def _closed_set(self, labels: torch.Tensor, shard_seed: int) -> torch.Tensor:
        """Denoise the shard with the stored UNet (EMA weights) and crop to the image size."""
        if self.model is None:
            unet, meta = D.unpack_unet(self.generator)
            layout = memory_format(self.params.channels_last)
            self.model = (unet.to(self.device, memory_format=layout), meta)
        unet, meta = self.model
        s = self.params.sampling
        size = meta["sample_size"]
        pads = tuple(meta["pads"])
        # All of the shard's noise is drawn up front on CPU, so which images it gives does not
        # depend on batching (the float results may still differ in the last bit across batch
        # sizes, which is why sampling.batch_size is part of the fingerprint).
        gen = torch.Generator().manual_seed(shard_seed)
        noise = torch.randn((labels.numel(), self.image_shape[0], size, size), generator=gen)
        out = []
        bar = tqdm(total=labels.numel(), desc="sample pool shard", unit="img", leave=False,
                   mininterval=2.0)
        for lo in range(0, labels.numel(), s.batch_size):
            hi = lo + s.batch_size
            scheduler = D.build_sampling_scheduler(s.scheduler, meta["scheduler_config"],
                                                  pixel_space=True)
            x = D.sample_unet(unet, scheduler, labels[lo:hi], noise[lo:hi], steps=s.steps,
                              guidance_scale=s.guidance_scale, null_class=meta["null_class"],
                              device=self.device,
                              precision=resolve_precision(self.params.precision, self.device))
            out.append(to_uint8(D.crop_images(x, pads)))  # stays on the device: no sync
            bar.update(out[-1].shape[0])
        bar.close()
        return torch.cat(out).cpu()  # one device-to-host copy per shard

    def _pretrained(self, labels: torch.Tensor, shard_seed: int) -> torch.Tensor:
        """Prompt the pretrained pipeline (the folder and dtype its reference recorded)."""
        if self.model is None:
            meta = D.decode_meta(self.generator)
            # A reference stored before the dtype was recorded: resolve it here.
            dtype = meta.get("dtype") or P.resolve_pretrained_dtype(self.pretrained["dtype"],
                                                                    self.device)
            settings = {**self.pretrained, "path": meta["path"], "dtype": dtype}
            self.model = P.PretrainedSampler(settings, self.params.sampling.scheduler,
                                             self.params.sampling.steps, self.device,
                                             self.class_names, self.image_shape)
        return self.model.sample(labels, shard_seed)
