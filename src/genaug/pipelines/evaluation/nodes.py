"""Evaluation nodes: the shared `evaluator` network, and an arm's metrics (top-1 on real_test,
FID and Inception Score of its synthetic set, and the same of a real set of the same size and
class counts drawn from real_reserve: the floor a generator could reach on these features).

FID reference (`evaluation.fid_reference`, default `real_test`): real images that neither the arm's
classifier nor the evaluator (trained on real_train + real_reserve) nor the generator (trained on
real_train) has seen. `real_reserve` is allowed too (unseen by classifiers except real_augmented,
but seen by the evaluator). Feature extractor (`evaluation.feature_extractor`): `auto` = InceptionV3
when `inception_weights_path` is set and the file exists, else the evaluator; `inception-v3`
requires the file; `evaluator-cnn` always uses the evaluator. Every metrics dict names it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
import time
from collections.abc import Mapping
from typing import Any

import torch

from genaug.common.bundles import Bundle, BundleError, validate_bundle
from genaug.common.device import resolve_device
from genaug.common.threads import torch_threads
from genaug.common.validation import ParameterError
from genaug.fingerprints import depends_on
from genaug.models.classifier_training import (
    accuracy_per_seed,
    predict,
    top1_accuracy,
    train_evaluator_network,
)
from genaug.models.classifiers import num_classes_of, unpack_states
from genaug.models.feature_extractors import (
    INCEPTION,
    evaluator_extractors,
    inception_extractors,
    select_feature_extractor,
)
from genaug.models.fid import (
    fid_and_inception_score,
    finite_or_none,
    reference_statistics,
    stratified_like,
    subsample,
)
from genaug.schemas.evaluation import EvaluationParams
from genaug.schemas.training import TrainingParams

logger = logging.getLogger(__name__)


@depends_on(params=("evaluator",))
def train_evaluator(real_train: Bundle, real_reserve: Bundle, real_test: Bundle,
                    class_names: list[str], params: EvaluationParams, seed: int,
                    device: str) -> dict[str, torch.Tensor]:
    """Train the shared evaluator network on real_reserve + real_train; log its test accuracy."""
    config = params.evaluator
    dev = resolve_device(device)
    k = num_classes_of(class_names)
    train = validate_bundle(real_train, "real_train", num_classes=k)
    shape = tuple(train["images"].shape[1:])
    reserve = validate_bundle(real_reserve, "real_reserve", num_classes=k, image_shape=shape,
                              allow_empty=True)
    test = validate_bundle(real_test, "real_test", num_classes=k, image_shape=shape)
    images = torch.cat([reserve["images"], train["images"]])
    labels = torch.cat([reserve["labels"], train["labels"]])
    start = time.perf_counter()
    with torch_threads(config.num_threads):
        model = train_evaluator_network(config, images, labels, k, seed, dev)
        logits = predict(model, test["images"], config.normalize.stats(), dev,
                         config.eval_batch_size)
    acc = top1_accuracy(logits.argmax(1), test["labels"], k)
    logger.info("evaluator (%s, %d images, %.1f s): real_test top-1 %.4f",
                config.architecture, labels.numel(), time.perf_counter() - start, acc)
    gate = config.min_test_accuracy
    if gate is not None and acc < gate:
        logger.warning("evaluator real_test top-1 %.4f is below evaluation.evaluator."
                       "min_test_accuracy %.2f: FID/IS from its features are less trustworthy",
                       acc, gate)
    return {k_: v.detach().cpu().clone().contiguous() for k_, v in model.state_dict().items()}


def _synthetic_set(synthetic_kept: Bundle | None, num_classes: int,
                   shape: tuple[int, ...]) -> Bundle | None:
    """The arm's synthetic images checked against real_train, or None when it has none."""
    if synthetic_kept is None or len(synthetic_kept.get("labels", [])) == 0:
        return None
    synthetic = validate_bundle(synthetic_kept, "synthetic_kept", num_classes=num_classes)
    if tuple(synthetic["images"].shape[1:]) != shape:
        raise BundleError(f"'synthetic_kept' images have shape "
                          f"{tuple(synthetic['images'].shape[1:])}, real_train {shape}.")
    return synthetic


def _reference_key(params: EvaluationParams, extractor: str, seed: int) -> torch.Tensor:
    """What the FID reference statistics depend on, as 32 digest bytes (an arm whose
    evaluation block differs there computes its own reference)."""
    view = {"extractor": extractor, "seed": seed, "reference": params.fid_reference,
            "max_fid_images": params.max_fid_images, "batch_size": params.batch_size,
            "inception": params.inception_weights_path,
            "evaluator": params.evaluator.result_view()}
    digest = hashlib.sha256(json.dumps(view, sort_keys=True).encode()).digest()
    return torch.tensor(list(digest), dtype=torch.uint8)


def _extractors(params: EvaluationParams, extractor: str,
                evaluator: Mapping[str, torch.Tensor] | None, in_channels: int,
                num_classes: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(FID features, IS logits) modules of the configured extractor."""
    if extractor == INCEPTION:
        return inception_extractors(params.inception_weights_path,
                                    "evaluation.inception_weights_path")
    return evaluator_extractors(evaluator, params.evaluator, in_channels, num_classes)


def _reference_images(references: Mapping[str, Bundle], params: EvaluationParams,
                      shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """The FID reference images: the configured real set, subsampled as configured."""
    ref_bundle = validate_bundle(references[params.fid_reference], params.fid_reference,
                                 image_shape=shape, allow_empty=True)
    return subsample(ref_bundle["images"], params.max_fid_images, seed, "reference")


def fid_reference_statistics(real_test: Bundle, real_train: Bundle, real_reserve: Bundle,
                             evaluator: Mapping[str, torch.Tensor] | None,
                             class_names: list[str], params: EvaluationParams, seed: int,
                             device: str) -> dict[str, torch.Tensor]:
    """The FID reference's feature statistics, computed once per run for every arm."""
    if not params.compute_fid:
        return {}
    dev = resolve_device(device)
    k = num_classes_of(class_names)
    shape = tuple(validate_bundle(real_train, "real_train", num_classes=k)["images"].shape[1:])
    extractor = select_feature_extractor(params.feature_extractor, params.inception_weights_path)
    feats, _ = _extractors(params, extractor, evaluator, shape[0], k)
    references = {"real_test": real_test, "real_train": real_train, "real_reserve": real_reserve}
    start = time.perf_counter()
    stats = reference_statistics(_reference_images(references, params, shape, seed),
                                 feats.to(dev), params.batch_size, dev)
    logger.info("FID reference %s (%s): %d images in %.1f s", params.fid_reference, extractor,
                int(stats["real_features_num_samples"]), time.perf_counter() - start)
    return {**stats, "key": _reference_key(params, extractor, seed)}


def _fid_is(synthetic: Bundle, references: Mapping[str, Bundle],
            reference_stats: Mapping[str, torch.Tensor] | None,
            evaluator: Mapping[str, torch.Tensor] | None, params: EvaluationParams,
            extractor: str, num_classes: int, seed: int, device: torch.device
            ) -> tuple[float | None, float | None, float | None, int]:
    """FID (vs the configured real reference), IS mean and std, and the synthetic count used.

    The reference's statistics come from `fid_reference_statistics` when they were made with
    this arm's evaluation settings, else from its images.
    """
    shape = tuple(synthetic["images"].shape[1:])
    key = _reference_key(params, extractor, seed)
    if reference_stats and torch.equal(reference_stats.get("key", torch.empty(0)), key):
        reference: torch.Tensor | Mapping[str, torch.Tensor] = reference_stats
    else:
        reference = _reference_images(references, params, shape, seed)
    fake = subsample(synthetic["images"], params.max_fid_images, seed, "fake")
    feats, logit_mod = _extractors(params, extractor, evaluator, shape[0], num_classes)
    start = time.perf_counter()
    fid, is_mean, is_std = fid_and_inception_score(
        reference, fake, feats.to(device), logit_mod.to(device), params.batch_size, device,
        params.is_splits, seed)
    logger.info("FID %s vs %s (%d images, %s, reference %s): %s; IS %s ± %s (%.1f s)",
                "synthetic", params.fid_reference, fake.shape[0], extractor,
                "statistics reused" if isinstance(reference, Mapping) else "extracted", fid,
                is_mean, is_std, time.perf_counter() - start)
    return fid, is_mean, is_std, int(fake.shape[0])


def _image_counts(hist: Mapping[str, Any], strategy: str, synthetic: Bundle | None
                  ) -> tuple[str, int, int]:
    """Strategy, synthetic and extra real image counts: from the history, else from the data."""
    strategy = hist.get("strategy", strategy)
    n_syn_data = int(synthetic["labels"].numel()) if synthetic is not None else 0
    n_synthetic = hist.get("n_synthetic", 0 if strategy in ("real_only", "real_augmented")
                           else n_syn_data)
    n_extra = hist.get("n_extra_real", n_syn_data if strategy == "real_augmented" else 0)
    return strategy, n_synthetic, n_extra


def _fid_metrics(synthetic: Bundle | None, strategy: str, references: Mapping[str, Bundle],
                 reference_stats: Mapping[str, torch.Tensor] | None,
                 evaluator: Mapping[str, torch.Tensor] | None, params: EvaluationParams,
                 extractor: str, num_classes: int, seed: int, device: torch.device
                 ) -> dict[str, Any]:
    """FID/IS of the arm's added images and of a real set of the same class counts (None and 0
    without added images or with `compute_fid: false`)."""
    out: dict[str, Any] = {"fid": None, "inception_score": None, "inception_score_std": None,
                           "n_eval_synthetic": 0, "fid_floor": None,
                           "inception_score_floor": None, "n_floor": 0}
    if synthetic is None or not params.compute_fid:
        return out
    fid, is_mean, is_std, out["n_eval_synthetic"] = _fid_is(
        synthetic, references, reference_stats, evaluator, params, extractor, num_classes, seed,
        device)
    out.update(fid=finite_or_none(fid), inception_score=finite_or_none(is_mean),
               inception_score_std=finite_or_none(is_std))
    if strategy != "real_augmented":  # its set is real already: its FID is the floor
        reserve = validate_bundle(references["real_reserve"], "real_reserve",
                                  num_classes=num_classes,
                                  image_shape=tuple(synthetic["images"].shape[1:]),
                                  allow_empty=True)
        floor_set = stratified_like(reserve, synthetic["labels"], num_classes, seed, "fid_floor")
        fid_floor, is_floor, _, out["n_floor"] = _fid_is(
            floor_set, references, reference_stats, evaluator, params, extractor, num_classes,
            seed, device)
        out.update(fid_floor=finite_or_none(fid_floor),
                   inception_score_floor=finite_or_none(is_floor))
    return out


def evaluate_classifier(classifier: Mapping[str, torch.Tensor],
                        training_history: Mapping[str, Any] | None,
                        synthetic_kept: Bundle | None, real_test: Bundle, real_train: Bundle,
                        real_reserve: Bundle, evaluator: Mapping[str, torch.Tensor] | None,
                        fid_reference_stats: Mapping[str, torch.Tensor] | None,
                        class_names: list[str], params: EvaluationParams,
                        training: TrainingParams, seed: int, device: str) -> dict[str, Any]:
    """Top-1 (overall, per class, per seed) on real_test plus FID/IS of the arm's synthetic set."""
    dev = resolve_device(device)
    k = num_classes_of(class_names)
    train = validate_bundle(real_train, "real_train", num_classes=k)
    shape = tuple(train["images"].shape[1:])
    test = validate_bundle(real_test, "real_test", num_classes=k)
    if tuple(test["images"].shape[1:]) != shape:
        raise BundleError(f"'real_test' images have shape {tuple(test['images'].shape[1:])} but "
                          f"the classifier was trained on real_train images of shape {shape}.")
    extractor = select_feature_extractor(params.feature_extractor, params.inception_weights_path)
    states = unpack_states(classifier)
    if sorted(states) != sorted(training.seeds):
        raise ParameterError("training.seeds", f"the seeds stored in classifier {sorted(states)}",
                             training.seeds)
    top1, per_class_mean, correct = accuracy_per_seed(training, states, test, k, dev,
                                                      params.batch_size)
    synthetic = _synthetic_set(synthetic_kept, k, shape)
    hist = training_history or {}
    strategy, n_synthetic, n_extra = _image_counts(hist, training.strategy, synthetic)
    fid = _fid_metrics(synthetic, strategy, {"real_test": test, "real_train": train,
                                             "real_reserve": real_reserve},
                       fid_reference_stats, evaluator, params, extractor, k, seed, dev)
    metrics = {
        "strategy": strategy,
        "seeds": list(training.seeds),
        "top1": top1,
        "top1_mean": statistics.fmean(top1),
        "top1_std": statistics.stdev(top1) if len(top1) > 1 else None,
        # Per seed, "1"/"0" for every real_test image in order: the pairs of the one-seed test.
        "test_correct": {str(s): "".join("1" if c else "0" for c in row.tolist())
                         for s, row in zip(training.seeds, correct, strict=True)},
        "per_class_top1": {name: float(per_class_mean[i]) for i, name in enumerate(class_names)},
        "fid": fid["fid"],
        "inception_score": fid["inception_score"],
        "inception_score_std": fid["inception_score_std"],
        "feature_extractor": extractor,
        "fid_reference": params.fid_reference,
        "n_real": int(hist.get("n_real", train["labels"].numel())),
        "n_synthetic": int(n_synthetic),
        "n_extra_real": int(n_extra),
        "n_eval_synthetic": fid["n_eval_synthetic"],
        # FID/IS of real images (real_reserve) with the synthetic set's class counts, capped at
        # what the reserve holds (n_floor images), against the same reference.
        "fid_floor": fid["fid_floor"],
        "inception_score_floor": fid["inception_score_floor"],
        "n_floor": fid["n_floor"],
    }
    logger.info("%s: top-1 %s over seeds %s", strategy, [round(v, 4) for v in top1],
                metrics["seeds"])
    return metrics
