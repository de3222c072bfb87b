"""Synthesis nodes: train (or reference) a generator, sample a sharded pool, draw a sample grid.

The pool is made in parts (:class:`PoolPart`, one node each): a part returns its share of the
pool's :class:`LazyShards` and its ``ShardedBundlePart`` catalog entry computes and stages those
shards. The pool node (:func:`generate_synthetic_pool`, after every part) returns the whole
generation; the ``ShardedBundleDataset`` finds its shards staged, makes any that are not (all
of them when the parts are in-memory datasets), and publishes the version atomically (see
``genaug.datasets.sharded_bundle``). Shards are seeded one by one, so the pool is the same bit
for bit however it is split. The engines live in ``genaug.models.diffusion*``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from genaug.common.bundles import Bundle, bundle_digest, validate_bundle
from genaug.common.device import resolve_device
from genaug.common.precision import resolve_precision
from genaug.common.validation import ParameterError
from genaug.datasets.checkpoints import CheckpointFolder
from genaug.datasets.sharded_bundle import LazyShards, PartReceipt
from genaug.fingerprints import depends_on, parameter_view, result_key
from genaug.models import diffusion as D
from genaug.models.diffusion_sampling import PoolSampler, pool_per_class
from genaug.models.diffusion_training import pretrained_reference, train_closed_set
from genaug.schemas.synthesis import SynthesisParams

logger = logging.getLogger(__name__)


# The parameter keys the generator depends on (rerun fingerprints, checkpoint keys).
_GENERATOR_KEYS = ("generator", "num_threads", "precision", "channels_last", "compile", "model",
                   "train", "pretrained.path", "pretrained.dtype")


@depends_on(params=_GENERATOR_KEYS)
def train_generator(real_train: Bundle, class_names: list[str], params: SynthesisParams,
                    seed: int, device: str, checkpoints: CheckpointFolder | None = None
                    ) -> dict[str, torch.Tensor]:
    """Train the closed-set diffusion generator on real_train (or reference a pretrained one).

    A closed-set training checkpoints into `checkpoints` (the `generator_checkpoint` folder)
    under a key of everything its result depends on, and resumes from the latest such one.
    """
    dev = resolve_device(device)
    real = _check_real(real_train, class_names)
    if params.generator.kind == "pretrained":
        return pretrained_reference(params.pretrained, class_names,
                                    tuple(real["images"].shape[1:]), dev)
    store = None if checkpoints is None else checkpoints.training(result_key(train_generator, {
        "params": parameter_view(params, _GENERATOR_KEYS), "seed": seed,
        "class_names": class_names, "data": bundle_digest(real),
        "precision": resolve_precision(params.precision, dev), "device": dev.type}))
    return train_closed_set(real["images"], real["labels"], class_names, params, seed, dev,
                            store)


# What the pool's shards depend on (the parts and the pool node read the same keys).
_POOL_KEYS = ("generator", "num_threads", "precision", "channels_last", "sampling", "pool",
              "pretrained")


class PoolPart:
    """Part `index` of `parts` of the synthetic pool; its node function is `generate`."""

    def __init__(self, index: int, parts: int) -> None:
        if not 0 <= index < parts:
            raise ValueError(f"part {index} of {parts} does not exist")
        self.index, self.parts = index, parts

    @depends_on(params=_POOL_KEYS)
    def generate(self, generator: dict[str, torch.Tensor], real_train: Bundle,
                 class_names: list[str], params: SynthesisParams, seed: int,
                 device: str) -> LazyShards:
        """This part's shards of the pool, lazy: made when its catalog entry saves them."""
        pool = _lazy_pool(generator, real_train, class_names, params, seed, device)
        part = pool.part(self.index, self.parts)
        logger.info("pool part %d/%d: shards %s of %d", self.index + 1, self.parts,
                    list(part.shard_indices), pool.num_shards)
        return part


@depends_on(params=_POOL_KEYS)
def generate_synthetic_pool(generator: dict[str, torch.Tensor], real_train: Bundle,
                            class_names: list[str], params: SynthesisParams, seed: int,
                            device: str, *parts: LazyShards | PartReceipt) -> LazyShards:
    """The class-balanced synthetic pool as lazy, resumable shards (made when saved).

    `parts` (what the part nodes staged) only order this node after them: shards they staged
    are reused when the pool is saved; a part made for another generation is reported.
    """
    pool = _lazy_pool(generator, real_train, class_names, params, seed, device)
    stale = sum(part.fingerprint != pool.fingerprint for part in parts)
    if stale:
        logger.warning("%d of %d pool parts were staged for another generation than %s: "
                       "their shards are made while the pool is saved", stale, len(parts),
                       pool.fingerprint)
    return pool


def _lazy_pool(generator: dict[str, torch.Tensor], real_train: Bundle, class_names: list[str],
               params: SynthesisParams, seed: int, device: str) -> LazyShards:
    """The whole pool's generation: its fingerprint and one shard maker per shard."""
    dev = resolve_device(device)
    real = _check_real(real_train, class_names)
    meta = D.decode_meta(generator)
    if meta.get("kind") != params.generator.kind:
        raise ParameterError("synthesis.generator.kind",
                             f"the kind of the stored generator ({meta.get('kind')!r})",
                             params.generator.kind)
    if meta.get("class_names") != class_names:
        raise ValueError(f"the generator was trained for classes {meta.get('class_names')}, "
                         f"but class_names is {class_names}")
    image_shape = tuple(int(v) for v in real["images"].shape[1:])
    per_class = pool_per_class(params.pool, real["labels"].numel(), len(class_names))
    sampler = PoolSampler(generator, params, seed, class_names, image_shape, per_class, dev)
    s = params.sampling
    logger.info("synthetic pool: %d images (%d per class) in %d shards of <= %d; "
                "fingerprint %s; %s sampler, %d steps, guidance %.2f on %s", sampler.total,
                per_class, sampler.num_shards, sampler.shard_size, sampler.fingerprint,
                s.scheduler, s.steps, s.guidance_scale, dev)
    return LazyShards(sampler.fingerprint, tuple(functools.partial(sampler.shard, index)
                                                 for index in range(sampler.num_shards)))


@depends_on(params=("generator", "grid"))
def plot_generator_samples(synthetic_pool: Bundle, real_train: Bundle, class_names: list[str],
                           params: SynthesisParams) -> Figure:
    """A labelled grid: per class a row of real (left) and synthetic pool images."""
    real = _check_real(real_train, class_names)
    pool = validate_bundle(synthetic_pool, "synthetic_pool", num_classes=len(class_names))
    n_syn, n_real = params.grid.per_class, params.grid.real_per_class
    cols = n_real + n_syn
    k = len(class_names)
    fig = Figure(figsize=(0.9 * cols + 1.6, 0.9 * k + 0.6))
    axes = fig.subplots(k, cols, squeeze=False)
    for row, name in enumerate(class_names):
        real_imgs = real["images"][real["labels"] == row][:n_real]
        syn_imgs = pool["images"][pool["labels"] == row][:n_syn]
        for col in range(cols):
            src, j = (real_imgs, col) if col < n_real else (syn_imgs, col - n_real)
            _draw_cell(axes[row][col], src[j] if j < src.shape[0] else None,
                       framed=col < n_real)
            if col == 0:
                axes[row][col].set_ylabel(name, rotation=0, ha="right", va="center",
                                          fontsize=8)
    title = f"{params.generator.kind} generator: synthetic samples per class"
    if n_real:
        title += f" (first {n_real} columns, blue frame: real)"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _draw_cell(ax: Axes, image: torch.Tensor | None, *, framed: bool) -> None:
    """One grid cell: the C×H×W uint8 image (if any), a blue frame for real images."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if image is not None:
        img = image.permute(1, 2, 0).numpy()
        if img.shape[2] == 1:
            ax.imshow(img[:, :, 0], cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(img)
    if framed:
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_color("tab:blue")


def _check_real(real_train: Mapping[str, Any], class_names: Any) -> Bundle:
    """real_train as a bundle whose labels fit class_names (a list of at least two names)."""
    if (not isinstance(class_names, list) or len(class_names) < 2
            or not all(isinstance(c, str) for c in class_names)):
        raise ValueError(f"class_names must be a list of at least two names, got {class_names!r}")
    return validate_bundle(real_train, "real_train", num_classes=len(class_names))
