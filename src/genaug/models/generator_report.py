"""How good is the synthetic pool as labelled training data (no Kedro here).

- Label fidelity: the share of images whose class the evaluator network (trained on real data)
  predicts as their label, overall and per class.
- CAS (Classification Accuracy Score, Ravuri & Vinyals 2019): a classifier trained on the
  synthetic images alone, tested on real_test.
- Memorization: the pixel-L2 distance (images scaled to [0, 1]) of every pool image to its
  nearest real_train image, against the same distance for real_test images (which the
  generator never saw). A pool image closer than the q-quantile of real_test's distances is
  counted as memorized: a pool copied from real_train has share 1, an independent one ≈ q.
- FID / Inception Score of the pool against real_test (``genaug.models.fid``).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from matplotlib.figure import Figure

from genaug.common.bundles import Bundle
from genaug.models.classifier_training import accuracy_per_seed, predict, train_seeds
from genaug.models.classifiers import build_classifier, load_state
from genaug.models.feature_extractors import (
    INCEPTION,
    evaluator_extractors,
    inception_extractors,
    select_feature_extractor,
)
from genaug.models.fid import fid_and_inception_score, finite_or_none, subsample
from genaug.schemas.evaluation import EvaluationParams
from genaug.schemas.training import TrainingParams


def evaluator_predictions(evaluator: dict[str, torch.Tensor], params: EvaluationParams,
                          images: torch.Tensor, num_classes: int,
                          device: torch.device) -> torch.Tensor:
    """The evaluator network's predicted class of every uint8 image."""
    config = params.evaluator
    model = build_classifier(config, images.shape[1], num_classes)
    load_state(model, evaluator, "evaluation.evaluator.architecture", "evaluator")
    logits = predict(model.to(device), images, config.normalize.stats(), device,
                     config.eval_batch_size)
    return logits.argmax(1) if logits.numel() else torch.empty(0, dtype=torch.int64)


def label_fidelity(predictions: torch.Tensor, labels: torch.Tensor,
                   class_names: list[str]) -> dict[str, Any]:
    """Share of images predicted as their own label: overall, per class (None: no images)."""
    hits = predictions == labels
    per_class = {}
    for c, name in enumerate(class_names):
        mask = labels == c
        per_class[name] = float(hits[mask].float().mean()) if mask.any() else None
    return {"n": int(labels.numel()), "hits": int(hits.sum()),
            "overall": float(hits.float().mean()) if labels.numel() else None,
            "per_class": per_class}


def nearest_real(queries: torch.Tensor, reference: torch.Tensor,
                 batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-L2 distance (images in [0, 1]) of each query to its nearest reference, and which."""
    ref = reference.flatten(1).double().div(255.0)
    dists, index = [], []
    for lo in range(0, queries.shape[0], batch_size):
        q = queries[lo:lo + batch_size].flatten(1).double().div(255.0)
        d, i = torch.cdist(q, ref).min(dim=1)
        dists.append(d)
        index.append(i)
    if not dists:
        return torch.empty(0, dtype=torch.float64), torch.empty(0, dtype=torch.int64)
    return torch.cat(dists), torch.cat(index)


def memorization(pool_distances: torch.Tensor, test_distances: torch.Tensor,
                 quantile: float) -> dict[str, Any]:
    """Share of pool images closer to real_train than the `quantile` of real_test images are."""
    threshold = float(torch.quantile(test_distances, quantile))
    share = float((pool_distances < threshold).double().mean())
    return {"quantile": quantile, "threshold": threshold, "share": share,
            "pool_nn_median": float(pool_distances.median()),
            "real_test_nn_median": float(test_distances.median()),
            "pool_nn_min": float(pool_distances.min()),
            "real_test_nn_min": float(test_distances.min())}


def classification_accuracy_score(pool: Bundle, test: Bundle, training: TrainingParams,
                                  num_classes: int, seed: int, device: torch.device,
                                  batch_size: int) -> dict[str, Any]:
    """CAS: `training`'s classifier (as real_only) trained on the pool alone, top-1 on test."""
    params = training.model_copy(update={"strategy": "real_only"})
    start = time.perf_counter()
    states, _ = train_seeds(params, pool, None, "synthetic", num_classes, seed, device)
    top1, _, _ = accuracy_per_seed(params, states, test, num_classes, device, batch_size)
    return {"top1_mean": sum(top1) / len(top1), "top1": top1, "seeds": list(params.seeds),
            "epochs": params.epochs, "architecture": params.architecture,
            "seconds": round(time.perf_counter() - start, 3)}


def fid_and_is(pool_images: torch.Tensor, test_images: torch.Tensor,
               evaluator: dict[str, torch.Tensor] | None, params: EvaluationParams,
               num_classes: int, seed: int, device: torch.device) -> dict[str, Any]:
    """FID of the pool vs real_test and its Inception Score, naming the feature extractor."""
    extractor = select_feature_extractor(params.feature_extractor,
                                         params.inception_weights_path)
    if extractor == INCEPTION:
        feats, logits = inception_extractors(params.inception_weights_path,
                                             "evaluation.inception_weights_path")
    else:
        feats, logits = evaluator_extractors(evaluator, params.evaluator,
                                             pool_images.shape[1], num_classes)
    reference = subsample(test_images, params.max_fid_images, seed, "reference")
    fake = subsample(pool_images, params.max_fid_images, seed, "fake")
    fid, is_mean, is_std = fid_and_inception_score(
        reference, fake, feats.to(device), logits.to(device), params.batch_size, device,
        params.is_splits, seed)
    return {"fid": finite_or_none(fid), "inception_score": finite_or_none(is_mean),
            "inception_score_std": finite_or_none(is_std), "feature_extractor": extractor,
            "fid_reference": "real_test", "n_synthetic": int(fake.shape[0]),
            "n_reference": int(reference.shape[0])}


def report_figure(pool: Bundle, real: Bundle, distances: torch.Tensor,
                  neighbours: torch.Tensor, fidelity: dict[str, Any],
                  memo: dict[str, Any], pairs: int) -> Figure:
    """Per-class label fidelity (bars) above the closest synthetic/real_train pairs."""
    order = torch.argsort(distances, stable=True)[:pairs]
    fig = Figure(figsize=(max(6.0, 0.75 * len(order) + 1.2), 5.6))
    grid = fig.add_gridspec(3, len(order), height_ratios=[2.2, 1, 1])
    bars = fig.add_subplot(grid[0, :])
    names = list(fidelity["per_class"])
    values = [v if v is not None else 0.0 for v in fidelity["per_class"].values()]
    bars.bar(range(len(names)), values, color="tab:blue")
    bars.axhline(fidelity["overall"] or 0.0, color="tab:red", linestyle="--",
                 label=f"overall {fidelity['overall']:.3f}")
    bars.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
    bars.set_ylim(0, 1)
    bars.set_ylabel("label fidelity", fontsize=8)
    bars.legend(fontsize=7, loc="lower right")
    for col, i in enumerate(order.tolist()):
        for row, image in ((1, pool["images"][i]), (2, real["images"][neighbours[i]])):
            ax = fig.add_subplot(grid[row, col])
            img = image.permute(1, 2, 0).numpy()
            ax.imshow(img[:, :, 0] if img.shape[2] == 1 else img, cmap="gray", vmin=0,
                      vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 1:
                label = names[int(pool["labels"][i])]
                ax.set_title(f"{label}\n{float(distances[i]):.2f}", fontsize=6)
            if col == 0:
                ax.set_ylabel("pool" if row == 1 else "nearest\nreal_train", fontsize=7)
    fig.suptitle(f"Generator: label fidelity per class; the {len(order)} pool images closest "
                 f"to real_train (label and pixel L2 above each). Memorized share "
                 f"{memo['share']:.4f} (threshold {memo['threshold']:.2f} = "
                 f"q{memo['quantile']:g} of real_test)", fontsize=8)
    fig.tight_layout()
    return fig
