"""Synthesis nodes: train (or reference) a generator, sample a sharded pool, draw a sample grid.

The pool node is a generator function yielding :class:`LazyShard` objects; the
``ShardedBundleDataset`` in the catalog computes and stages each shard, reuses shards staged by
an interrupted run with the same fingerprint, and publishes the version atomically after the
last one (see ``genaug.datasets.sharded_bundle``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from genaug.common.bundles import Bundle, class_counts, to_float, to_uint8, validate_bundle
from genaug.common.device import resolve_device
from genaug.common.seeding import derive_seed
from genaug.common.validation import (
    ParameterError,
    check_choice,
    check_float,
    check_int,
    check_str_template,
    require,
)
from genaug.datasets.sharded_bundle import LazyShard
from genaug.models import diffusion as D

logger = logging.getLogger(__name__)

P = "synthesis"
KINDS = ("closed_set", "pretrained")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


# ============================================================================ parameters
def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check every `synthesis.*` parameter; return a normalised copy (fails before heavy work)."""
    gen = require(params, "generator", P)
    kind = check_choice(require(gen, "kind", f"{P}.generator"), f"{P}.generator.kind", KINDS)
    cfg: dict[str, Any] = {"kind": kind}
    threads = params.get("num_threads")
    cfg["num_threads"] = None if threads is None else check_int(
        threads, f"{P}.num_threads", minimum=1)

    s = require(params, "sampling", P)
    cfg["sampling"] = {
        "scheduler": check_choice(require(s, "scheduler", f"{P}.sampling"),
                                  f"{P}.sampling.scheduler", D.SCHEDULERS),
        "steps": check_int(require(s, "steps", f"{P}.sampling"), f"{P}.sampling.steps",
                           minimum=1),
        "guidance_scale": check_float(require(s, "guidance_scale", f"{P}.sampling"),
                                      f"{P}.sampling.guidance_scale", low=0.0),
        "batch_size": check_int(require(s, "batch_size", f"{P}.sampling"),
                                f"{P}.sampling.batch_size", minimum=1),
    }

    pool = require(params, "pool", P)
    per_class = pool.get("per_class")
    multiple = pool.get("multiple_of_real")
    if per_class is None and multiple is None:
        raise ParameterError(f"{P}.pool.per_class",
                             "a positive integer (or set pool.multiple_of_real)", None)
    cfg["pool"] = {
        "per_class": None if per_class is None else check_int(
            per_class, f"{P}.pool.per_class", minimum=1),
        "multiple_of_real": None if multiple is None else check_int(
            multiple, f"{P}.pool.multiple_of_real", minimum=1),
        "shard_size": check_int(require(pool, "shard_size", f"{P}.pool"),
                                f"{P}.pool.shard_size", minimum=1),
    }

    grid = params.get("grid") or {}
    cfg["grid"] = {
        "per_class": check_int(grid.get("per_class", 8), f"{P}.grid.per_class", minimum=1),
        "real_per_class": check_int(grid.get("real_per_class", 2), f"{P}.grid.real_per_class",
                                    minimum=0),
    }

    if kind == "closed_set":
        m = require(params, "model", P)
        boc = require(m, "block_out_channels", f"{P}.model")
        if (not isinstance(boc, list | tuple) or not boc
                or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0
                           for c in boc)):
            raise ParameterError(f"{P}.model.block_out_channels",
                                 "a non-empty list of positive integers", boc)
        groups = check_int(require(m, "norm_num_groups", f"{P}.model"),
                           f"{P}.model.norm_num_groups", minimum=1)
        if any(c % groups for c in boc):
            raise ParameterError(f"{P}.model.norm_num_groups",
                                 f"a divisor of every block_out_channels entry {list(boc)}",
                                 groups)
        size = m.get("sample_size")
        cfg["model"] = {
            "block_out_channels": list(boc),
            "layers_per_block": check_int(require(m, "layers_per_block", f"{P}.model"),
                                          f"{P}.model.layers_per_block", minimum=1),
            "norm_num_groups": groups,
            "attention": bool(m.get("attention", False)),
            "sample_size": None if size is None else check_int(
                size, f"{P}.model.sample_size", minimum=4),
        }
        t = require(params, "train", P)
        tp = f"{P}.train"
        cfg["train"] = {
            "steps": check_int(require(t, "steps", tp), f"{tp}.steps", minimum=1),
            "batch_size": check_int(require(t, "batch_size", tp), f"{tp}.batch_size",
                                    minimum=1),
            "lr": check_float(require(t, "lr", tp), f"{tp}.lr", low=0.0, low_open=True),
            "warmup_steps": check_int(require(t, "warmup_steps", tp), f"{tp}.warmup_steps",
                                      minimum=0),
            "weight_decay": check_float(require(t, "weight_decay", tp), f"{tp}.weight_decay",
                                        low=0.0),
            "ema_decay": check_float(require(t, "ema_decay", tp), f"{tp}.ema_decay",
                                     low=0.0, high=1.0, high_open=True),
            "label_dropout": check_float(require(t, "label_dropout", tp),
                                         f"{tp}.label_dropout", low=0.0, high=1.0,
                                         high_open=True),
            "hflip": bool(t.get("hflip", False)),
            "num_train_timesteps": check_int(require(t, "num_train_timesteps", tp),
                                             f"{tp}.num_train_timesteps", minimum=2),
            "beta_schedule": check_choice(require(t, "beta_schedule", tp),
                                          f"{tp}.beta_schedule",
                                          ("linear", "scaled_linear", "squaredcos_cap_v2")),
            "log_every": check_int(t.get("log_every", 100), f"{tp}.log_every", minimum=1),
        }
        if cfg["sampling"]["guidance_scale"] != 1.0 and cfg["train"]["label_dropout"] == 0.0:
            raise ParameterError(f"{P}.sampling.guidance_scale",
                                 "1.0 when train.label_dropout is 0 (no unconditional model "
                                 "was trained)", cfg["sampling"]["guidance_scale"])
    else:
        pr = require(params, "pretrained", P)
        path = pr.get("path")
        if not isinstance(path, str) or not (Path(path) / "model_index.json").is_file():
            raise ParameterError(f"{P}.pretrained.path",
                                 "a local diffusers pipeline folder (with model_index.json)",
                                 path)
        res = pr.get("resolution")
        gs = pr.get("guidance_scale")
        dtype = pr.get("dtype", "float32")
        cfg["pretrained"] = {
            "path": str(Path(path).resolve()),
            "prompt_template": check_str_template(pr.get("prompt_template"),
                                                  f"{P}.pretrained.prompt_template", "class"),
            "negative_prompt": pr.get("negative_prompt"),
            "resolution": None if res is None else check_int(
                res, f"{P}.pretrained.resolution", minimum=8),
            "guidance_scale": cfg["sampling"]["guidance_scale"] if gs is None else check_float(
                gs, f"{P}.pretrained.guidance_scale", low=0.0),
            "dtype": check_choice(dtype, f"{P}.pretrained.dtype", DTYPES),
        }
    return cfg


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (None: leave it as it is)."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_inputs(real_train: Mapping[str, Any], class_names: Any) -> tuple[Bundle, list[str]]:
    """Validate real_train against class_names."""
    if (not isinstance(class_names, list) or len(class_names) < 2
            or not all(isinstance(c, str) for c in class_names)):
        raise ValueError(f"class_names must be a list of at least two names, got {class_names!r}")
    bundle = validate_bundle(real_train, "real_train", num_classes=len(class_names))
    return bundle, class_names


def _check_seed(seed: Any) -> int:
    return check_int(seed, "seed", minimum=0)


def _sample_size(cfg: Mapping[str, Any], height: int, width: int) -> int:
    """The UNet's square input size: given, or the smallest ≥ H, W that it can downsample."""
    factor = 2 ** (len(cfg["model"]["block_out_channels"]) - 1)
    size = cfg["model"]["sample_size"]
    if size is None:
        return math.ceil(max(height, width) / factor) * factor
    if size < max(height, width) or size % factor:
        raise ParameterError(f"{P}.model.sample_size",
                             f"null or a multiple of {factor} that is >= the images' "
                             f"{height}×{width}", size)
    return size


def pool_per_class(cfg: Mapping[str, Any], real_train: Bundle, num_classes: int) -> int:
    """Images per class in the pool: pool.per_class, or multiple_of_real × real per class."""
    if cfg["pool"]["per_class"] is not None:
        return cfg["pool"]["per_class"]
    real = real_train["labels"].numel()
    return math.ceil(cfg["pool"]["multiple_of_real"] * real / num_classes)


# ============================================================================ training
def train_generator(real_train: Bundle, class_names: list[str], params: dict[str, Any],
                    seed: int, device: str) -> dict[str, torch.Tensor]:
    """Train the closed-set diffusion generator on real_train (or reference a pretrained one)."""
    cfg = validate_params(params)
    seed = _check_seed(seed)
    dev = resolve_device(device)
    real, names = _check_inputs(real_train, class_names)
    if cfg["kind"] == "pretrained":
        ref = {"kind": "pretrained", "path": cfg["pretrained"]["path"],
               "config_digest": D.pretrained_digest(cfg["pretrained"]["path"]),
               "class_names": names, "image_shape": list(real["images"].shape[1:])}
        logger.info("pretrained generator: referencing %s (no training)", ref["path"])
        return {D.META_KEY: D.encode_json(ref)}

    c, h, w = real["images"].shape[1:]
    k = len(names)
    size = _sample_size(cfg, h, w)
    pads = D.pad_amounts(h, w, size)
    m, t = cfg["model"], cfg["train"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, P, "init"))
        unet = D.build_unet(k, c, size, m["block_out_channels"], m["layers_per_block"],
                            m["norm_num_groups"], m["attention"])
    scheduler = D.build_train_scheduler(t["num_train_timesteps"], t["beta_schedule"])
    images = D.pad_images(to_float(real["images"]), pads)
    logger.info("training closed-set generator: %d images (%s per class), %d classes, "
                "%d×%d padded to %d, %.2fM parameters, %d steps of batch %d on %s",
                images.shape[0], class_counts(real["labels"], k), k, h, w, size,
                sum(p.numel() for p in unet.parameters()) / 1e6, t["steps"], t["batch_size"], dev)
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(derive_seed(seed, P, "train"))
    with _torch_threads(cfg["num_threads"]):
        ema, history = D.train_unet(
            unet, scheduler, images, real["labels"], num_classes=k, steps=t["steps"],
            batch_size=t["batch_size"], lr=t["lr"], warmup_steps=t["warmup_steps"],
            weight_decay=t["weight_decay"], ema_decay=t["ema_decay"],
            label_dropout=t["label_dropout"], hflip=t["hflip"], generator=gen, device=dev,
            log_every=t["log_every"])
    seconds = time.perf_counter() - start
    ema.copy_to(unet.parameters())
    unet.cpu().eval()
    tail = history[-max(1, len(history) // 10):]
    logger.info("generator trained in %.1f s (%.2f steps/s); final loss %.4f", seconds,
                t["steps"] / seconds, sum(tail) / len(tail))
    meta = {"kind": "closed_set", "unet_config": _stable_config(unet.config),
            "scheduler_config": _stable_config(scheduler.config), "num_classes": k,
            "class_names": names, "image_shape": [c, h, w], "sample_size": size,
            "pads": list(pads), "null_class": k}
    return D.pack_generator(unet, meta, history)


# ============================================================================ pool
def generate_synthetic_pool(generator: dict[str, torch.Tensor], real_train: Bundle,
                            class_names: list[str], params: dict[str, Any], seed: int,
                            device: str) -> Iterator[LazyShard]:
    """Yield the class-balanced synthetic pool shard by shard (lazy, resumable shards)."""
    cfg = validate_params(params)
    seed = _check_seed(seed)
    dev = resolve_device(device)
    real, names = _check_inputs(real_train, class_names)
    meta = D.decode_meta(generator)
    if meta.get("kind") != cfg["kind"]:
        raise ParameterError(f"{P}.generator.kind",
                             f"the kind of the stored generator ({meta.get('kind')!r})",
                             cfg["kind"])
    if meta.get("class_names") != names:
        raise ValueError(f"the generator was trained for classes {meta.get('class_names')}, "
                         f"but class_names is {names}")
    k = len(names)
    image_shape = tuple(int(v) for v in real["images"].shape[1:])
    per_class = pool_per_class(cfg, real, k)
    total = per_class * k
    shard_size = cfg["pool"]["shard_size"]
    num_shards = math.ceil(total / shard_size)
    labels = torch.arange(total, dtype=torch.int64) % k  # every shard is class-balanced-ish
    fingerprint = pool_fingerprint(generator, cfg, seed, names, image_shape, per_class)
    logger.info("synthetic pool: %d images (%d per class) in %d shards of <= %d; "
                "fingerprint %s; %s sampler, %d steps, guidance %.2f on %s", total, per_class,
                num_shards, shard_size, fingerprint, cfg["sampling"]["scheduler"],
                cfg["sampling"]["steps"], cfg["sampling"]["guidance_scale"], dev)
    sampler = _LazySampler(generator, cfg, dev, image_shape, names)
    progress = {"done": 0, "start": None}

    def make(index: int) -> Callable[[], Bundle]:
        lo, hi = index * shard_size, min(total, (index + 1) * shard_size)

        def run() -> Bundle:
            if progress["start"] is None:
                progress["start"] = time.perf_counter()
            shard_seed = derive_seed(seed, "pool", index)
            t0 = time.perf_counter()
            with _torch_threads(cfg["num_threads"]):
                images = sampler(labels[lo:hi], shard_seed, lo)
            progress["done"] += hi - lo
            dt = time.perf_counter() - t0
            elapsed = time.perf_counter() - progress["start"]
            rate = progress["done"] / elapsed
            logger.info("pool shard %d/%d: %d images in %.1f s (%.2f images/s), ETA %.0f s",
                        index + 1, num_shards, hi - lo, dt, (hi - lo) / dt,
                        (total - hi) / rate)
            return {"images": images, "labels": labels[lo:hi].clone()}

        return run

    for index in range(num_shards):
        yield LazyShard(index, num_shards, fingerprint, make(index))


def _stable_config(config: Mapping[str, Any]) -> dict[str, Any]:
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


def pool_fingerprint(generator: Mapping[str, torch.Tensor], cfg: Mapping[str, Any], seed: int,
                     class_names: list[str], image_shape: tuple[int, ...],
                     per_class: int) -> str:
    """Identity of a pool generation: generator digest + sampling/pool params + seed."""
    spec = {"generator": D.state_digest(generator), "kind": cfg["kind"],
            "sampling": cfg["sampling"], "pretrained": cfg.get("pretrained"),
            "per_class": per_class, "shard_size": cfg["pool"]["shard_size"], "seed": seed,
            "class_names": class_names, "image_shape": list(image_shape)}
    raw = json.dumps(spec, sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()[:20]


class _LazySampler:
    """Builds the sampling model on first use, so a fully resumed pool loads nothing heavy."""

    def __init__(self, generator: Mapping[str, torch.Tensor], cfg: Mapping[str, Any],
                 device: torch.device, image_shape: tuple[int, ...],
                 class_names: list[str]) -> None:
        self.generator, self.cfg, self.device = generator, cfg, device
        self.image_shape, self.class_names = image_shape, class_names
        self.model: Any = None

    def __call__(self, labels: torch.Tensor, shard_seed: int, offset: int) -> torch.Tensor:
        """Sample uint8 images for `labels`, reproducibly from the shard's seed."""
        if self.cfg["kind"] == "closed_set":
            return self._closed_set(labels, shard_seed)
        return self._pretrained(labels, shard_seed, offset)

    def _closed_set(self, labels: torch.Tensor, shard_seed: int) -> torch.Tensor:
        if self.model is None:
            unet, meta = D.unpack_unet(self.generator)
            self.model = (unet.to(self.device), meta)
        unet, meta = self.model
        s = self.cfg["sampling"]
        size = meta["sample_size"]
        pads = tuple(meta["pads"])
        # All of the shard's noise is drawn up front on CPU: results do not depend on batching.
        gen = torch.Generator().manual_seed(shard_seed)
        noise = torch.randn((labels.numel(), self.image_shape[0], size, size), generator=gen)
        out = []
        bar = D.tqdm(total=labels.numel(), desc="sample pool shard", unit="img", leave=False,
                     mininterval=2.0)
        for lo in range(0, labels.numel(), s["batch_size"]):
            hi = lo + s["batch_size"]
            scheduler = D.build_sampling_scheduler(s["scheduler"], meta["scheduler_config"],
                                                  pixel_space=True)
            x = D.sample_unet(unet, scheduler, labels[lo:hi], noise[lo:hi], steps=s["steps"],
                              guidance_scale=s["guidance_scale"], null_class=meta["null_class"],
                              device=self.device)
            out.append(to_uint8(D.crop_images(x, pads)).cpu())
            bar.update(out[-1].shape[0])
        bar.close()
        return torch.cat(out)

    def _pretrained(self, labels: torch.Tensor, shard_seed: int, offset: int) -> torch.Tensor:
        pr, s = self.cfg["pretrained"], self.cfg["sampling"]
        if self.model is None:
            logger.info("loading pretrained pipeline from %s", pr["path"])
            self.model = D.load_pretrained_pipeline(pr["path"], s["scheduler"], self.device,
                                                    DTYPES[pr["dtype"]])
        pipe = self.model
        c, h, w = self.image_shape
        extra: dict[str, Any] = {}
        if pr["resolution"] is not None:
            extra["height"] = extra["width"] = pr["resolution"]
        if pr["negative_prompt"]:
            extra["negative_prompt"] = None  # filled per batch below
        out = []
        bar = D.tqdm(total=labels.numel(), desc="sample pool shard", unit="img", leave=False,
                     mininterval=2.0)
        for lo in range(0, labels.numel(), s["batch_size"]):
            batch = labels[lo:lo + s["batch_size"]].tolist()
            prompts = [pr["prompt_template"].format(**{"class": self.class_names[y]})
                       for y in batch]
            if pr["negative_prompt"]:
                extra["negative_prompt"] = [pr["negative_prompt"]] * len(batch)
            # One generator per image (seeded by shard seed and position): batch-size independent.
            gens = [torch.Generator().manual_seed(derive_seed(shard_seed, lo + j))
                    for j in range(len(batch))]
            result = pipe(prompt=prompts, num_inference_steps=s["steps"],
                          guidance_scale=pr["guidance_scale"], generator=gens,
                          output_type="pt", **extra)
            out.append(D.to_dataset_images(result.images, c, h, w))
            bar.update(len(batch))
        bar.close()
        return torch.cat(out)


# ============================================================================ grid
def plot_generator_samples(synthetic_pool: Bundle, real_train: Bundle, class_names: list[str],
                           params: dict[str, Any]) -> Figure:
    """A labelled grid: per class a row of real (left) and synthetic pool images."""
    cfg = validate_params(params)
    real, names = _check_inputs(real_train, class_names)
    pool = validate_bundle(synthetic_pool, "synthetic_pool", num_classes=len(names))
    n_syn, n_real = cfg["grid"]["per_class"], cfg["grid"]["real_per_class"]
    cols = n_real + n_syn
    k = len(names)
    fig = Figure(figsize=(0.9 * cols + 1.6, 0.9 * k + 0.6))
    axes = fig.subplots(k, cols, squeeze=False)
    for row, name in enumerate(names):
        real_imgs = real["images"][real["labels"] == row][:n_real]
        syn_imgs = pool["images"][pool["labels"] == row][:n_syn]
        for col in range(cols):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            src, j = (real_imgs, col) if col < n_real else (syn_imgs, col - n_real)
            if j < src.shape[0]:
                img = src[j].permute(1, 2, 0).numpy()
                if img.shape[2] == 1:
                    ax.imshow(img[:, :, 0], cmap="gray", vmin=0, vmax=255)
                else:
                    ax.imshow(img)
            if col < n_real:
                for spine in ax.spines.values():
                    spine.set_visible(True)
                    spine.set_color("tab:blue")
            if col == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    title = f"{cfg['kind']} generator: synthetic samples per class"
    if n_real:
        title += f" (first {n_real} columns, blue frame: real)"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
