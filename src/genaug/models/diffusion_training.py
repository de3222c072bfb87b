"""Make the pool's generator: train the closed-set diffusion UNet, or reference a pretrained one.

Both return the flat dict of tensors the catalog stores (see ``genaug.models.diffusion``).
"""

from __future__ import annotations

import logging
import time

import torch

from genaug.common.bundles import class_counts, to_float
from genaug.common.hub import ACCEPTED_SOURCES, local_pipeline_folder
from genaug.common.precision import memory_format, resolve_precision
from genaug.common.seeding import derive_seed
from genaug.common.threads import torch_threads
from genaug.common.validation import ParameterError
from genaug.models import diffusion as D
from genaug.models import diffusion_pretrained as P
from genaug.models.diffusion_objectives import build_objective
from genaug.models.training_state import CheckpointStore
from genaug.schemas.synthesis import PretrainedParams, SynthesisParams

logger = logging.getLogger(__name__)


def pretrained_reference(pretrained: PretrainedParams, class_names: list[str],
                         image_shape: tuple[int, int, int],
                         device: torch.device) -> dict[str, torch.Tensor]:
    """A light stand-in for a pretrained pipeline: its folder, config hash and resolved dtype."""
    folder = local_pipeline_folder(pretrained.path)
    if folder is None:  # validated before the run; the cache may have changed since
        raise ParameterError("synthesis.pretrained.path", ACCEPTED_SOURCES, pretrained.path)
    ref = {"kind": "pretrained", "source": pretrained.path, "path": str(folder),
           "config_digest": P.pretrained_digest(folder),
           "dtype": P.resolve_pretrained_dtype(pretrained.dtype, device),
           "class_names": class_names, "image_shape": list(image_shape)}
    logger.info("pretrained generator: referencing %s (%s, no training), %s on %s",
                pretrained.path, folder, ref["dtype"], device)
    return {D.META_KEY: D.encode_json(ref)}


def train_closed_set(images: torch.Tensor, labels: torch.Tensor, class_names: list[str],
                     params: SynthesisParams, seed: int, device: torch.device,
                     checkpoints: CheckpointStore | None = None) -> dict[str, torch.Tensor]:
    """Train the class-conditional UNet on uint8 images; return its EMA weights packed.

    With `checkpoints` (this training's, keyed by what its result depends on) and
    `train.checkpoint_every`, a killed training resumes from its latest checkpoint.
    """
    c, h, w = images.shape[1:]
    k = len(class_names)
    size = params.unet_sample_size(h, w)
    pads = D.pad_amounts(h, w, size)
    m, t = params.model, params.train
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "synthesis", "init"))
        unet = D.build_unet(k, c, size, m.block_out_channels, m.layers_per_block,
                            m.norm_num_groups, m.attention)
    unet.to(memory_format=memory_format(params.channels_last))
    if params.compile:
        unet.compile()  # in place: the state dict keeps its keys
    objective = build_objective(t)
    padded = D.pad_images(to_float(images), pads)
    logger.info("training closed-set generator: %d images (%s per class), %d classes, "
                "%d×%d padded to %d, %.2fM parameters, %s objective, %d steps of batch %d on %s",
                padded.shape[0], class_counts(labels, k), k, h, w, size,
                sum(p.numel() for p in unet.parameters()) / 1e6, t.prediction, t.steps,
                t.batch_size, device)
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(derive_seed(seed, "synthesis", "train"))
    with torch_threads(params.num_threads):
        ema, history = D.train_unet(
            unet, objective, padded, labels, num_classes=k, steps=t.steps,
            batch_size=t.batch_size, lr=t.lr, warmup_steps=t.warmup_steps,
            weight_decay=t.weight_decay, ema_decay=t.ema_decay,
            label_dropout=t.label_dropout, hflip=t.hflip, generator=gen, device=device,
            log_every=t.log_every, precision=resolve_precision(params.precision, device),
            checkpoints=checkpoints, checkpoint_every=t.checkpoint_every)
    seconds = time.perf_counter() - start
    ema.copy_to(unet.parameters())
    unet.to("cpu", memory_format=torch.contiguous_format).eval()
    tail = history[-max(1, len(history) // 10):]
    logger.info("generator trained in %.1f s (this run's part); final loss %.4f", seconds,
                sum(tail) / len(tail))
    meta = {"kind": "closed_set", "precision": resolve_precision(params.precision, device),
            "unet_config": D.stable_config(unet.config),
            "scheduler_config": D.stable_config(objective.scheduler.config),
            "prediction": t.prediction, "num_classes": k,
            "class_names": class_names, "image_shape": [c, h, w], "sample_size": size,
            "pads": list(pads), "null_class": k}
    return D.pack_generator(unet, meta, history)
