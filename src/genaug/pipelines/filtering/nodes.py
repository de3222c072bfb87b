"""Filtering nodes: train (or load) a CLIP, score the synthetic pool, keep the top of each class.

Shared nodes (`create_pipeline`): `train_clip` -> `clip_model`, `clip_training_log`;
`score_pool` -> `synthetic_scores`; `evaluate_clip` -> `clip_report`. Per-arm nodes
(`create_template`): `filter_pool` -> `synthetic_kept`, `filter_summary`; `plot_filter_grid` ->
`filter_grid`. The engines live in `genaug.models` (`clip`, `clip_training`, `clip_scoring`,
`pool_filter`, whose docstring states the filter's rounding and tie rule).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from matplotlib.figure import Figure

from genaug.common.bundles import Bundle, bundle_digest, subset, validate_bundle
from genaug.common.device import resolve_device
from genaug.common.precision import resolve_precision
from genaug.datasets.checkpoints import CheckpointFolder
from genaug.fingerprints import depends_on, parameter_view, result_key
from genaug.models.clip import build_clip, captions, load_clip, state_dict_for_saving
from genaug.models.clip_scoring import (
    first_per_class,
    own_class_scores,
    pixel_sums,
    ranking_metrics,
    similarities,
)
from genaug.models.clip_training import train_closed_set_clip
from genaug.models.pool_filter import check_alignment, filter_summary, select_kept
from genaug.pipelines.filtering.grids import kept_rejected_grid
from genaug.schemas.filtering import FilteringParams, FilterParams

logger = logging.getLogger(__name__)


def _check_class_names(class_names: Any) -> list[str]:
    """class_names must be a non-empty list of strings."""
    if not isinstance(class_names, Sequence) or isinstance(class_names, str) or not class_names \
            or not all(isinstance(c, str) for c in class_names):
        raise ValueError(f"'class_names' must be a non-empty list of strings; got {class_names!r}.")
    return list(class_names)


@depends_on(params=("clip",))
def train_clip(real_train: Bundle, class_names: list[str], params: FilteringParams, seed: int,
               device: str, checkpoints: CheckpointFolder | None = None
               ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train the closed-set CLIP on real image–caption pairs (or load pretrained weights).

    A closed-set training checkpoints into `checkpoints` (the `clip_checkpoint` folder) under a
    key of everything its result depends on, and resumes from the latest such one.
    """
    dev = resolve_device(device)
    names = _check_class_names(class_names)
    real = validate_bundle(real_train, "real_train", num_classes=len(names))
    clip = params.clip
    texts = captions(clip.caption_template, names)
    if clip.kind == "pretrained":
        start = time.perf_counter()
        model = build_clip(clip, tuple(real["images"].shape[1:]), load_weights=True)
        logger.info("Loaded pretrained CLIP %s (%s) in %.1f s", clip.pretrained.model_name,
                    clip.pretrained.pretrained, time.perf_counter() - start)
        return state_dict_for_saving(model), {
            "kind": "pretrained", "model_name": clip.pretrained.model_name,
            "pretrained": clip.pretrained.pretrained, "captions": texts}
    store = None if checkpoints is None else checkpoints.training(result_key(train_clip, {
        "params": parameter_view(params, train_clip.depends_on["params"]), "seed": seed,
        "class_names": names, "data": bundle_digest(real), "device": dev.type,
        "precision": resolve_precision(clip.closed_set.train.precision, dev)}))
    model, log = train_closed_set_clip(real["images"], real["labels"], texts, clip, seed, dev,
                                       store)
    return state_dict_for_saving(model), {"kind": "closed_set", "captions": texts, **log}


@depends_on(params=("clip",))
def score_pool(clip_model: Mapping[str, torch.Tensor], synthetic_pool: Bundle,
               class_names: list[str], params: FilteringParams,
               device: str) -> dict[str, torch.Tensor]:
    """Score each pool image: cosine similarity of its CLIP embedding and its class caption.

    Returns {"scores": float32 N, "labels": int64 N, "pixel_sums": int64 N}, aligned with the
    pool (labels and per-image pixel sums let the filter check the alignment).
    """
    dev = resolve_device(device)
    names = _check_class_names(class_names)
    pool = validate_bundle(synthetic_pool, "synthetic_pool", num_classes=len(names))
    start = time.perf_counter()
    model, tokenizer, preprocess = load_clip(clip_model, params.clip, pool["images"].shape[1:],
                                             dev)
    texts = captions(params.clip.caption_template, names)
    sims = similarities(model, tokenizer, preprocess, pool["images"], texts, dev,
                        params.score_batch_size, "score pool")
    scores = own_class_scores(sims, pool["labels"])
    logger.info("Scored %d pool images in %.1f s (mean %.4f, min %.4f, max %.4f)",
                scores.numel(), time.perf_counter() - start, float(scores.mean()),
                float(scores.min()), float(scores.max()))
    return {"scores": scores, "labels": pool["labels"].clone(),
            "pixel_sums": pixel_sums(pool["images"])}


@depends_on(params=("clip", "report_max_per_class"))
def evaluate_clip(clip_model: Mapping[str, torch.Tensor], real_test: Bundle,
                  class_names: list[str], clip_training_log: Mapping[str, Any],
                  params: FilteringParams, device: str) -> dict[str, Any]:
    """Sanity metrics of the CLIP on real_test: zero-shot top-1, own vs other-class similarity."""
    dev = resolve_device(device)
    names = _check_class_names(class_names)
    test = validate_bundle(real_test, "real_test", num_classes=len(names))
    if params.report_max_per_class is not None:
        test = subset(test, first_per_class(test["labels"], len(names),
                                            params.report_max_per_class))
    model, tokenizer, preprocess = load_clip(clip_model, params.clip, test["images"].shape[1:],
                                             dev)
    texts = captions(params.clip.caption_template, names)
    sims = similarities(model, tokenizer, preprocess, test["images"], texts, dev,
                        params.score_batch_size, "CLIP on real_test")
    report = {"kind": params.clip.kind, "num_test_images": int(sims.shape[0]),
              "num_classes": len(names), "chance_top1": 1.0 / len(names),
              **ranking_metrics(sims, test["labels"], names),
              "training": dict(clip_training_log)}
    logger.info("CLIP on real_test: zero-shot top-1 %.3f (chance %.3f); own-class cos %.4f vs "
                "other-class %.4f", report["zero_shot_top1"], report["chance_top1"],
                report["mean_own_class_similarity"], report["mean_other_class_similarity"])
    return report


@depends_on(params=("drop_fraction", "mode"))
def filter_pool(synthetic_pool: Bundle, synthetic_scores: Mapping[str, Any],
                class_names: list[str], params: FilterParams) -> tuple[Bundle, dict[str, Any]]:
    """Drop the lowest-scoring `drop_fraction` of the pool (per class or globally)."""
    names = _check_class_names(class_names)
    pool = validate_bundle(synthetic_pool, "synthetic_pool", num_classes=len(names))
    scores = check_alignment(pool, synthetic_scores)
    keep = select_kept(scores, pool["labels"], len(names), params.drop_fraction, params.mode,
                       names)
    kept = subset(pool, torch.nonzero(keep).flatten())
    summary = filter_summary(scores, pool["labels"], keep, names, params.drop_fraction,
                             params.mode)
    logger.info("Filter (%s, drop %.3f): kept %d of %d, mean score kept %.4f vs dropped %s",
                params.mode, params.drop_fraction, summary["kept"], summary["pool_size"],
                summary["mean_kept_score"], "n/a" if summary["mean_dropped_score"] is None
                else f"{summary['mean_dropped_score']:.4f}")
    return kept, summary


def plot_filter_grid(synthetic_pool: Bundle, synthetic_scores: Mapping[str, Any],
                     class_names: list[str], params: FilterParams) -> Figure:
    """Per class: the highest-scored kept images next to the lowest-scored rejected ones."""
    names = _check_class_names(class_names)
    pool = validate_bundle(synthetic_pool, "synthetic_pool", num_classes=len(names))
    scores = check_alignment(pool, synthetic_scores)
    keep = select_kept(scores, pool["labels"], len(names), params.drop_fraction, params.mode,
                       names)
    return kept_rejected_grid(pool, scores, keep, names, params.grid.images_per_class,
                              title=f"CLIP filter: {params.mode}, drop_fraction="
                                    f"{params.drop_fraction:g}")
