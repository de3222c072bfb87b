"""Filtering nodes: train (or load) a CLIP, score the synthetic pool, keep the top of each class.

Shared nodes (`create_pipeline`): `train_clip` -> `clip_model`, `score_pool` ->
`synthetic_scores`, `evaluate_clip` -> `clip_report`. Per-arm nodes (`create_template`):
`filter_pool` -> `synthetic_kept`, `filter_summary`; `plot_filter_grid` -> `filter_grid`.

Rounding rule: `per_class` mode drops floor(n_c * drop_fraction) images of each class c (so a
class keeps n_c - floor(n_c * f) >= 1 images whenever it has any); `global` mode drops
floor(N * drop_fraction) images of the whole pool. Ties: images are ranked by score, highest
first, with equal scores ordered by pool index (stable sort), and the tail of that ranking is
dropped, so of two equal scores the later pool image is dropped first. Kept images stay in pool
order.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import open_clip
import torch
from tqdm.auto import tqdm

from genaug.common.bundles import Bundle, subset, validate_bundle
from genaug.common.device import resolve_device
from genaug.common.params import merge_params
from genaug.common.seeding import derive_seed
from genaug.common.validation import (
    ParameterError,
    check_choice,
    check_float,
    check_int,
    check_str_template,
    require,
)
from genaug.models.clip import (
    KINDS,
    build_clip,
    build_tokenizer,
    closed_set_preprocess,
    encode_images,
    encode_texts,
    preprocess_for,
    state_dict_for_saving,
)

logger = logging.getLogger(__name__)

P = "filtering"
F = "filter"
MODES = ("per_class", "global")


# ----------------------------------------------------------------------------- parameters


def check_filtering_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the `filtering` parameters (CLIP kind, architecture, training, batch sizes)."""
    clip = require(params, "clip", P)
    kind = check_choice(require(clip, "kind", f"{P}.clip"), f"{P}.clip.kind", KINDS)
    check_str_template(require(clip, "caption_template", f"{P}.clip"),
                       f"{P}.clip.caption_template", "class")
    check_int(require(params, "score_batch_size", P), f"{P}.score_batch_size", minimum=1)
    if params.get("report_max_per_class") is not None:
        check_int(params["report_max_per_class"], f"{P}.report_max_per_class", minimum=1)
    if kind == "closed_set":
        cs = require(clip, "closed_set", f"{P}.clip")
        pre = f"{P}.clip.closed_set"
        check_int(require(cs, "embed_dim", pre), f"{pre}.embed_dim", minimum=1)
        vision = require(cs, "vision", pre)
        for key in ("patch_size", "width", "layers", "head_width"):
            check_int(require(vision, key, f"{pre}.vision"), f"{pre}.vision.{key}", minimum=1)
        if vision["width"] % vision["head_width"]:
            raise ParameterError(f"{pre}.vision.head_width", "a divisor of vision.width",
                                 vision["head_width"])
        text = require(cs, "text", pre)
        for key in ("context_length", "width", "heads", "layers"):
            check_int(require(text, key, f"{pre}.text"), f"{pre}.text.{key}", minimum=1)
        if text["context_length"] < 4:
            raise ParameterError(f"{pre}.text.context_length", "an integer >= 4",
                                 text["context_length"])
        if text["width"] % text["heads"]:
            raise ParameterError(f"{pre}.text.heads", "a divisor of text.width", text["heads"])
        train = require(cs, "train", pre)
        tp = f"{pre}.train"
        check_int(require(train, "epochs", tp), f"{tp}.epochs", minimum=1)
        check_int(require(train, "batch_size", tp), f"{tp}.batch_size", minimum=2)
        check_float(require(train, "lr", tp), f"{tp}.lr", low=0.0, low_open=True)
        check_float(require(train, "weight_decay", tp), f"{tp}.weight_decay", low=0.0)
        check_int(require(train, "warmup_steps", tp), f"{tp}.warmup_steps", minimum=0)
        check_int(require(train, "max_shift", tp), f"{tp}.max_shift", minimum=0)
    else:
        pt = require(clip, "pretrained", f"{P}.clip")
        name = require(pt, "model_name", f"{P}.clip.pretrained")
        if not isinstance(name, str) or not name:
            raise ParameterError(f"{P}.clip.pretrained.model_name", "an open_clip model name",
                                 name)
        weights = require(pt, "pretrained", f"{P}.clip.pretrained")
        if not isinstance(weights, str) or not weights:
            raise ParameterError(f"{P}.clip.pretrained.pretrained",
                                 "a pretrained tag (e.g. laion2b_s34b_b79k) or a local file",
                                 weights)
    return dict(params)


def check_filter_params(defaults: Mapping[str, Any],
                        overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge and validate the per-arm `filter` parameters."""
    params = merge_params(defaults, overrides)
    check_float(require(params, "drop_fraction", F), f"{F}.drop_fraction", low=0.0, high=1.0,
                high_open=True)
    check_choice(require(params, "mode", F), f"{F}.mode", MODES)
    grid = params.get("grid", {}) or {}
    check_int(grid.get("images_per_class", 4), f"{F}.grid.images_per_class", minimum=1)
    return params


def _check_class_names(class_names: Any) -> list[str]:
    """class_names must be a non-empty list of strings."""
    if not isinstance(class_names, Sequence) or isinstance(class_names, str) or not class_names \
            or not all(isinstance(c, str) for c in class_names):
        raise ValueError(f"'class_names' must be a non-empty list of strings; got {class_names!r}.")
    return list(class_names)


def captions(template: str, class_names: Sequence[str]) -> list[str]:
    """One caption per class from the template's `{class}` placeholder."""
    return [template.replace("{class}", name) for name in class_names]


# ----------------------------------------------------------------------------- CLIP training


def _lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warmup then cosine decay to zero."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * base * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to `max_shift` pixels (edge-replicated borders)."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, [max_shift] * 4, mode="replicate")
    offs = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=gen)
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w]
                        for i, (dy, dx) in enumerate(offs.tolist())])


def train_clip(real_train: Mapping[str, Any], class_names: list[str], params: Mapping[str, Any],
               seed: int, device: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Train the closed-set CLIP on real image–caption pairs (or load pretrained weights)."""
    params = check_filtering_params(params)
    seed = check_int(seed, "seed", minimum=0)
    dev = resolve_device(device)
    names = _check_class_names(class_names)
    real = validate_bundle(real_train, "real_train", num_classes=len(names))
    clip_params = params["clip"]
    texts = captions(clip_params["caption_template"], names)
    image_shape = tuple(real["images"].shape[1:])

    if clip_params["kind"] == "pretrained":
        start = time.perf_counter()
        model = build_clip(clip_params, image_shape, load_weights=True)
        logger.info("Loaded pretrained CLIP %s (%s) in %.1f s",
                    clip_params["pretrained"]["model_name"],
                    clip_params["pretrained"]["pretrained"], time.perf_counter() - start)
        return state_dict_for_saving(model), {
            "kind": "pretrained", "model_name": clip_params["pretrained"]["model_name"],
            "pretrained": clip_params["pretrained"]["pretrained"], "captions": texts}

    patch = clip_params["closed_set"]["vision"]["patch_size"]
    if image_shape[1] % patch or image_shape[2] % patch:
        raise ParameterError(f"{P}.clip.closed_set.vision.patch_size",
                             f"a divisor of the images' height and width {image_shape[1:]}",
                             patch)
    train = clip_params["closed_set"]["train"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "filtering", "clip_init"))
        model = build_clip(clip_params, image_shape)
    model.to(dev).train()
    tokenizer = build_tokenizer(clip_params, model)
    tokens = tokenizer(texts).to(dev)
    images = closed_set_preprocess(real["images"])
    labels = real["labels"]
    n = images.shape[0]
    batch_size = min(int(train["batch_size"]), n)
    steps_per_epoch = max(1, n // batch_size)  # drop the ragged last batch
    total = steps_per_epoch * int(train["epochs"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(train["lr"]),
                                  weight_decay=float(train["weight_decay"]))
    loss_fn = open_clip.ClipLoss()
    gen = torch.Generator().manual_seed(derive_seed(seed, "filtering", "clip_batches"))
    history: list[float] = []
    start, cpu_start = time.perf_counter(), time.process_time()
    step = 0
    bar = tqdm(total=total, desc="train CLIP", unit="step", leave=False)
    for epoch in range(int(train["epochs"])):
        order = torch.randperm(n, generator=gen)
        epoch_loss = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * batch_size:(b + 1) * batch_size]
            x = _random_shift(images[idx], int(train["max_shift"]), gen).to(dev)
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, total, float(train["lr"]), int(train["warmup_steps"]))
            image_features = model.encode_image(x, normalize=True)
            # Encode each class caption once and gather: same gradients, K text passes.
            text_features = model.encode_text(tokens, normalize=True)[labels[idx].to(dev)]
            loss = loss_fn(image_features, text_features, model.logit_scale.exp())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            epoch_loss += float(loss.detach())
            step += 1
            bar.update(1)
        history.append(epoch_loss / steps_per_epoch)
        elapsed = time.perf_counter() - start
        logger.info("CLIP epoch %d/%d loss %.4f  %.1f step/s  ETA %.0f s", epoch + 1,
                    int(train["epochs"]), history[-1], step / elapsed,
                    elapsed / step * (total - step))
    bar.close()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    logger.info("Trained closed-set CLIP: %d steps in %.1f s (%.1f CPU s on %d threads), "
                "loss %.4f -> %.4f", total, seconds, cpu_seconds, torch.get_num_threads(),
                history[0], history[-1])
    model.eval()
    return state_dict_for_saving(model), {
        "kind": "closed_set", "captions": texts, "steps": total, "train_seconds": seconds,
        "train_cpu_seconds": cpu_seconds,
        "epoch_loss": history, "device": str(dev), "threads": torch.get_num_threads()}


def load_clip(clip_model: Mapping[str, torch.Tensor], params: Mapping[str, Any],
              image_shape: Sequence[int], dev: torch.device):
    """Rebuild the CLIP from parameters and load the saved state_dict (eval mode)."""
    clip_params = params["clip"]
    model = build_clip(clip_params, image_shape, load_weights=False)
    try:
        model.load_state_dict(dict(clip_model), strict=True)
    except RuntimeError as err:
        raise ValueError(
            "'clip_model' does not match the CLIP that the 'filtering.clip' parameters and "
            f"the images' shape {tuple(image_shape)} describe: {err}") from err
    model.to(dev).eval()
    return model, build_tokenizer(clip_params, model), preprocess_for(clip_params, model)


def _similarities(model, tokenizer, preprocess, images: torch.Tensor, texts: list[str],
                  dev: torch.device, batch_size: int, desc: str) -> torch.Tensor:
    """Cosine similarity of every image with every caption (N×K, float32, CPU)."""
    text_features = encode_texts(model, tokenizer, texts, dev).cpu()
    with tqdm(total=images.shape[0], desc=desc, unit="img", leave=False) as bar:
        image_features = encode_images(model, preprocess, images, dev, batch_size, bar.update)
    return image_features @ text_features.T


# ----------------------------------------------------------------------------- scoring


def score_pool(clip_model: Mapping[str, torch.Tensor], synthetic_pool: Mapping[str, Any],
               class_names: list[str], params: Mapping[str, Any],
               device: str) -> dict[str, torch.Tensor]:
    """Score each pool image: cosine similarity of its CLIP embedding and its class caption.

    Returns {"scores": float32 N, "labels": int64 N, "pixel_sums": int64 N}, aligned with the
    pool (labels and per-image pixel sums let the filter check the alignment).
    """
    params = check_filtering_params(params)
    dev = resolve_device(device)
    names = _check_class_names(class_names)
    pool = validate_bundle(synthetic_pool, "synthetic_pool", num_classes=len(names))
    start = time.perf_counter()
    model, tokenizer, preprocess = load_clip(clip_model, params, pool["images"].shape[1:], dev)
    texts = captions(params["clip"]["caption_template"], names)
    sims = _similarities(model, tokenizer, preprocess, pool["images"], texts, dev,
                         int(params["score_batch_size"]), "score pool")
    scores = sims.gather(1, pool["labels"].view(-1, 1)).squeeze(1).to(torch.float32)
    logger.info("Scored %d pool images in %.1f s (mean %.4f, min %.4f, max %.4f)",
                scores.numel(), time.perf_counter() - start, float(scores.mean()),
                float(scores.min()), float(scores.max()))
    return {"scores": scores.contiguous(), "labels": pool["labels"].clone(),
            "pixel_sums": _pixel_sums(pool["images"])}


def _pixel_sums(images: torch.Tensor) -> torch.Tensor:
    """Per-image sum of pixel values: a cheap fingerprint of the pool's order.

    Summed in chunks so the int64 accumulation never copies the whole pool.
    """
    flat = images.flatten(1)
    return torch.cat([chunk.sum(dim=1, dtype=torch.int64) for chunk in flat.split(1024)]
                     or [torch.zeros(0, dtype=torch.int64)])


def evaluate_clip(clip_model: Mapping[str, torch.Tensor], real_test: Mapping[str, Any],
                  class_names: list[str], clip_training_log: Mapping[str, Any],
                  params: Mapping[str, Any], device: str) -> dict[str, Any]:
    """Sanity metrics of the CLIP on real_test: zero-shot top-1, own vs other-class similarity."""
    params = check_filtering_params(params)
    dev = resolve_device(device)
    names = _check_class_names(class_names)
    test = validate_bundle(real_test, "real_test", num_classes=len(names))
    cap = params.get("report_max_per_class")
    if cap is not None:  # the first `cap` test images of each class, in test order
        index = torch.cat([torch.nonzero(test["labels"] == c).flatten()[:cap]
                           for c in range(len(names))]).sort().values
        test = subset(test, index)
    model, tokenizer, preprocess = load_clip(clip_model, params, test["images"].shape[1:], dev)
    texts = captions(params["clip"]["caption_template"], names)
    sims = _similarities(model, tokenizer, preprocess, test["images"], texts, dev,
                         int(params["score_batch_size"]), "CLIP on real_test")
    report = {"kind": params["clip"]["kind"], "num_test_images": int(sims.shape[0]),
              "num_classes": len(names), "chance_top1": 1.0 / len(names),
              **ranking_metrics(sims, test["labels"], names),
              "training": dict(clip_training_log)}
    logger.info("CLIP on real_test: zero-shot top-1 %.3f (chance %.3f); own-class cos %.4f vs "
                "other-class %.4f", report["zero_shot_top1"], report["chance_top1"],
                report["mean_own_class_similarity"], report["mean_other_class_similarity"])
    return report


def ranking_metrics(sims: torch.Tensor, labels: torch.Tensor,
                    names: Sequence[str]) -> dict[str, Any]:
    """Top-1 accuracy and own- vs other-class cosine similarity from an N×K similarity matrix."""
    k = sims.shape[1]
    own_mask = torch.nn.functional.one_hot(labels, k).bool()
    own = sims[own_mask]
    other = sims[~own_mask]
    pred = sims.argmax(dim=1)
    # how often an image's own caption beats a wrong caption (chance 0.5)
    own_col = sims.gather(1, labels.view(-1, 1))
    above = (own_col > sims)[~own_mask]
    per_class = {}
    for c, name in enumerate(names):
        sel = labels == c
        if sel.any():
            per_class[name] = float((pred[sel] == c).float().mean())
    return {
        "zero_shot_top1": float((pred == labels).float().mean()),
        "mean_own_class_similarity": float(own.mean()),
        "mean_other_class_similarity": float(other.mean()) if k > 1 else None,
        "own_above_other_rate": float(above.float().mean()) if k > 1 else None,
        "zero_shot_top1_per_class": per_class,
    }


# ----------------------------------------------------------------------------- per-arm filter


def check_alignment(pool: Bundle, scores: Mapping[str, Any]) -> torch.Tensor:
    """Return the pool's scores after checking they belong to this pool, in its order."""
    if not isinstance(scores, Mapping) or "scores" not in scores:
        raise ValueError("'synthetic_scores' must be a dict with a 'scores' tensor.")
    s = scores["scores"]
    n = pool["labels"].shape[0]
    if not isinstance(s, torch.Tensor) or s.ndim != 1 or s.shape[0] != n:
        shape = tuple(getattr(s, "shape", ()))
        raise ValueError(f"'synthetic_scores' is not aligned with 'synthetic_pool': {shape} "
                         f"scores for {n} pool images; rerun the filtering pipeline's scoring.")
    if "labels" in scores and not torch.equal(scores["labels"].to(torch.int64), pool["labels"]):
        raise ValueError("'synthetic_scores' is not aligned with 'synthetic_pool': their labels "
                         "differ; rerun the filtering pipeline's scoring for this pool.")
    if "pixel_sums" in scores and not torch.equal(scores["pixel_sums"].to(torch.int64),
                                                  _pixel_sums(pool["images"])):
        raise ValueError("'synthetic_scores' is not aligned with 'synthetic_pool': the images "
                         "differ from the scored ones; rerun the scoring for this pool.")
    s = s.to(torch.float32)
    if not torch.isfinite(s).all():
        raise ValueError("'synthetic_scores' holds non-finite scores.")
    return s


def _ranked(scores: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`index` ordered by score, highest first; equal scores keep pool order (stable)."""
    order = torch.sort(-scores[index], stable=True).indices
    return index[order]


def select_kept(scores: torch.Tensor, labels: torch.Tensor, num_classes: int,
                drop_fraction: float, mode: str,
                names: Sequence[str] | None = None) -> torch.Tensor:
    """Boolean mask of the pool images the filter keeps (see the module docstring's rule)."""
    names = list(names) if names is not None else [str(c) for c in range(num_classes)]
    keep = torch.zeros(labels.shape[0], dtype=torch.bool)
    if mode == "per_class":
        for c in range(num_classes):
            index = torch.nonzero(labels == c).flatten()
            if index.numel() == 0:
                raise ValueError(f"'synthetic_pool' has no images of class '{names[c]}', so the "
                                 "filter cannot keep any (per_class mode).")
            n_keep = index.numel() - math.floor(index.numel() * drop_fraction)
            keep[_ranked(scores, index)[:n_keep]] = True
    else:
        index = torch.arange(labels.shape[0])
        n_keep = index.numel() - math.floor(index.numel() * drop_fraction)
        keep[_ranked(scores, index)[:n_keep]] = True
        counts = torch.bincount(labels[keep], minlength=num_classes)
        empty = [names[c] for c in range(num_classes) if counts[c] == 0]
        if empty:
            raise ParameterError(
                f"{F}.drop_fraction",
                f"a value that leaves every class at least one image (global mode leaves "
                f"none of class(es) {empty}); lower it or use filter.mode: per_class",
                drop_fraction)
    return keep


def _mean(x: torch.Tensor) -> float | None:
    """Mean as a float, None when empty."""
    return float(x.mean()) if x.numel() else None


def filter_pool(synthetic_pool: Mapping[str, Any], synthetic_scores: Mapping[str, Any],
                class_names: list[str], filter_defaults: Mapping[str, Any],
                filter_overrides: Mapping[str, Any] | None) -> tuple[Bundle, dict[str, Any]]:
    """Drop the lowest-scoring `drop_fraction` of the pool (per class or globally)."""
    params = check_filter_params(filter_defaults, filter_overrides)
    names = _check_class_names(class_names)
    pool = validate_bundle(synthetic_pool, "synthetic_pool", num_classes=len(names))
    scores = check_alignment(pool, synthetic_scores)
    f, mode = float(params["drop_fraction"]), params["mode"]
    keep = select_kept(scores, pool["labels"], len(names), f, mode, names)
    kept = subset(pool, torch.nonzero(keep).flatten())
    per_class = {}
    for c, name in enumerate(names):
        sel = pool["labels"] == c
        ks, ds = scores[sel & keep], scores[sel & ~keep]
        per_class[name] = {
            "pool": int(sel.sum()), "kept": int(ks.numel()), "dropped": int(ds.numel()),
            "cutoff": float(ks.min()) if ks.numel() else None,
            "max_dropped_score": float(ds.max()) if ds.numel() else None,
            "mean_kept_score": _mean(ks), "mean_dropped_score": _mean(ds)}
    summary = {
        "drop_fraction": f, "mode": mode,
        "rounding": ("per_class: drop floor(n_class * drop_fraction) per class"
                     if mode == "per_class" else "global: drop floor(N * drop_fraction) overall"),
        "tie_break": "rank by score (highest first), equal scores by pool index",
        "pool_size": int(keep.numel()), "kept": int(keep.sum()), "dropped": int((~keep).sum()),
        "global_cutoff": float(scores[keep].min()) if mode == "global" else None,
        "mean_kept_score": _mean(scores[keep]), "mean_dropped_score": _mean(scores[~keep]),
        "per_class": per_class}
    logger.info("Filter (%s, drop %.3f): kept %d of %d, mean score kept %.4f vs dropped %s",
                mode, f, summary["kept"], summary["pool_size"], summary["mean_kept_score"],
                "n/a" if summary["mean_dropped_score"] is None
                else f"{summary['mean_dropped_score']:.4f}")
    return kept, summary


def plot_filter_grid(synthetic_pool: Mapping[str, Any], synthetic_scores: Mapping[str, Any],
                     class_names: list[str], filter_defaults: Mapping[str, Any],
                     filter_overrides: Mapping[str, Any] | None):
    """Per class: the highest-scored kept images next to the lowest-scored rejected ones."""
    from genaug.pipelines.filtering.grids import kept_rejected_grid

    params = check_filter_params(filter_defaults, filter_overrides)
    names = _check_class_names(class_names)
    pool = validate_bundle(synthetic_pool, "synthetic_pool", num_classes=len(names))
    scores = check_alignment(pool, synthetic_scores)
    keep = select_kept(scores, pool["labels"], len(names), float(params["drop_fraction"]),
                       params["mode"], names)
    per_side = int((params.get("grid") or {}).get("images_per_class", 4))
    return kept_rejected_grid(pool, scores, keep, names, per_side,
                              title=f"CLIP filter: {params['mode']}, drop_fraction="
                                    f"{float(params['drop_fraction']):g}")
