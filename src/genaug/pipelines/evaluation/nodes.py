"""Evaluate arms: top-1 accuracy on real_test (torchmetrics), FID and Inception Score of the arm's
synthetic set, and train the shared `evaluator` network that supplies FID/IS features when no local
InceptionV3 weights are configured.

FID reference (`evaluation.fid_reference`, default `real_test`): real images that neither the arm's
classifier nor the evaluator (trained on real_train + real_reserve) nor the generator (trained on
real_train) has seen. `real_reserve` is allowed too (unseen by classifiers except real_augmented,
but seen by the evaluator). Feature extractor (`evaluation.feature_extractor`): `auto` = InceptionV3
when `inception_weights_path` is set and the file exists, else the evaluator; `inception-v3`
requires the file; `evaluator-cnn` always uses the evaluator. Every metrics dict names it.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from genaug.common.bundles import Bundle, BundleError, validate_bundle
from genaug.common.device import resolve_device
from genaug.common.params import merge_params
from genaug.common.seeding import derive_seed
from genaug.common.validation import ParameterError, check_choice, check_int, require
from genaug.models.classifiers import (
    build_classifier,
    check_normalization,
    load_state,
    unpack_states,
)
from genaug.models.feature_extractors import (
    EVALUATOR,
    INCEPTION,
    EvaluatorFeatures,
    EvaluatorLogits,
    inception_extractors,
)
from genaug.pipelines.training.nodes import (
    ShuffledBatchSampler,
    check_optim_params,
    check_training_params,
    predict,
    run_phase,
    set_threads_from,
)

logger = logging.getLogger(__name__)

P = "evaluation"
REFERENCES = ("real_test", "real_reserve", "real_train")


def check_evaluation_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate merged evaluation parameters."""
    if not isinstance(params, Mapping):
        raise ParameterError(P, "a mapping of evaluation parameters", params)
    cfg = {
        "batch_size": check_int(require(params, "batch_size", P), f"{P}.batch_size", minimum=1),
        "feature_extractor": check_choice(require(params, "feature_extractor", P),
                                          f"{P}.feature_extractor",
                                          ("auto", EVALUATOR, INCEPTION)),
        "inception_weights_path": params.get("inception_weights_path"),
        "fid_reference": check_choice(params.get("fid_reference", "real_test"),
                                      f"{P}.fid_reference", REFERENCES),
        "max_fid_images": params.get("max_fid_images"),
        "is_splits": check_int(params.get("is_splits", 10), f"{P}.is_splits", minimum=1),
        "compute_fid": params.get("compute_fid", True),
    }
    if cfg["max_fid_images"] is not None:
        check_int(cfg["max_fid_images"], f"{P}.max_fid_images", minimum=2)
    if not isinstance(cfg["compute_fid"], bool):
        raise ParameterError(f"{P}.compute_fid", "true or false", cfg["compute_fid"])
    path = cfg["inception_weights_path"]
    if path is not None and not isinstance(path, str):
        raise ParameterError(f"{P}.inception_weights_path", "null or a local file path", path)
    return cfg


def select_feature_extractor(cfg: Mapping[str, Any]) -> str:
    """Which extractor a configuration uses: inception-v3 or evaluator-cnn."""
    choice, path = cfg["feature_extractor"], cfg["inception_weights_path"]
    if choice == "auto":
        if path and Path(path).expanduser().is_file():
            return INCEPTION
        if path:
            logger.warning("evaluation.inception_weights_path %r does not exist; using the "
                           "evaluator network for FID/IS", path)
        return EVALUATOR
    return choice


def _evaluator_cfg(params: Mapping[str, Any]) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """Validate `evaluation.evaluator` (same keys as training, real-only)."""
    raw = params.get("evaluator")
    if not isinstance(raw, Mapping):
        raise ParameterError(f"{P}.evaluator", "a mapping of evaluator training parameters", raw)
    return check_optim_params(raw, f"{P}.evaluator"), raw


def _check_names(class_names: Any) -> int:
    """Number of classes from the class_names dataset."""
    if not isinstance(class_names, list) or len(class_names) < 2:
        raise ParameterError("class_names", "a list of at least two class names", class_names)
    return len(class_names)


def train_evaluator(real_train: Bundle, real_reserve: Bundle, real_test: Bundle,
                    class_names: list[str], params: Mapping[str, Any], seed: int,
                    device: str) -> dict[str, torch.Tensor]:
    """Train the shared evaluator network on real_reserve + real_train; log its test accuracy."""
    ecfg, raw = _evaluator_cfg(params)
    seed = check_int(seed, "seed", minimum=0)
    dev = resolve_device(device)
    set_threads_from(raw, f"{P}.evaluator")
    k = _check_names(class_names)
    train = validate_bundle(real_train, "real_train", num_classes=k)
    shape = tuple(train["images"].shape[1:])
    reserve = validate_bundle(real_reserve, "real_reserve", num_classes=k, image_shape=shape,
                              allow_empty=True)
    test = validate_bundle(real_test, "real_test", num_classes=k, image_shape=shape)
    stats = check_normalization(raw, f"{P}.evaluator", shape[0])
    images = torch.cat([reserve["images"], train["images"]])
    labels = torch.cat([reserve["labels"], train["labels"]])
    train_seed = derive_seed(seed, "evaluator")
    torch.manual_seed(train_seed)
    generator = torch.Generator().manual_seed(train_seed)
    model = build_classifier(ecfg["arch"], shape[0], k).to(dev)
    start = time.perf_counter()
    sampler = ShuffledBatchSampler(labels.numel(), ecfg["batch_size"], generator)
    run_phase(model, "train", images, labels, torch.zeros_like(labels), sampler,
              ecfg["epochs"], ecfg["lr"], ecfg, stats, dev, desc="evaluator",
              generator=generator)
    logits = predict(model, test["images"], stats, dev, ecfg["eval_batch_size"])
    acc = float(MulticlassAccuracy(num_classes=k, average="micro")(logits.argmax(1),
                                                                     test["labels"]))
    gate = raw.get("min_test_accuracy")
    logger.info("evaluator (%s, %d images, %.1f s): real_test top-1 %.4f",
                ecfg["arch"]["architecture"], labels.numel(), time.perf_counter() - start, acc)
    if gate is not None and acc < gate:
        logger.warning("evaluator real_test top-1 %.4f is below evaluation.evaluator."
                       "min_test_accuracy %.2f: FID/IS from its features are less trustworthy",
                       acc, gate)
    return {k_: v.detach().cpu().clone().contiguous() for k_, v in model.state_dict().items()}


def _subsample(bundle: Bundle, limit: int | None, seed: int, salt: str) -> torch.Tensor:
    """Images of a bundle, a seeded random subset of `limit` of them when it holds more."""
    images = bundle["images"]
    if limit is None or images.shape[0] <= limit:
        return images
    gen = torch.Generator().manual_seed(derive_seed(seed, "evaluation", salt))
    return images[torch.sort(torch.randperm(images.shape[0], generator=gen)[:limit]).values]


def fid_and_inception_score(reference: torch.Tensor, fake: torch.Tensor, features: nn.Module,
                            logits: nn.Module, batch_size: int, device: torch.device,
                            splits: int, seed: int) -> tuple[float | None, float | None,
                                                             float | None]:
    """FID(fake vs reference) and IS (mean, std over splits) of `fake` with the given modules."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.inception import InceptionScore

    if fake.shape[0] < 2 or reference.shape[0] < 2:
        return None, None, None
    fid = FrechetInceptionDistance(feature=features, normalize=False).to(device)
    n_splits = max(1, min(splits, fake.shape[0] // 2))
    is_metric = InceptionScore(feature=logits, splits=n_splits, normalize=False).to(device)
    with torch.no_grad():
        for i in range(0, reference.shape[0], batch_size):
            fid.update(reference[i:i + batch_size].to(device), real=True)
        for i in range(0, fake.shape[0], batch_size):
            batch = fake[i:i + batch_size].to(device)
            fid.update(batch, real=False)
            is_metric.update(batch)
        fid_value = float(fid.compute())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "inception_score"))
            is_mean, is_std = is_metric.compute()
    is_std = float(is_std) if n_splits > 1 else 0.0
    return max(fid_value, 0.0), float(is_mean), is_std


def _finite(value: float | None) -> float | None:
    """JSON-safe float: None for None/NaN/inf."""
    return None if value is None or not math.isfinite(value) else float(value)


def evaluate_classifier(classifier: Mapping[str, torch.Tensor],
                        training_history: Mapping[str, Any] | None,
                        synthetic_kept: Bundle | None, real_test: Bundle, real_train: Bundle,
                        real_reserve: Bundle, evaluator: Mapping[str, torch.Tensor] | None,
                        class_names: list[str], params: Mapping[str, Any],
                        overrides: Mapping[str, Any] | None,
                        training_params: Mapping[str, Any],
                        training_overrides: Mapping[str, Any] | None, seed: int,
                        device: str) -> dict[str, Any]:
    """Top-1 (overall, per class, per seed) on real_test plus FID/IS of the arm's synthetic set."""
    params = merge_params(params, overrides)
    cfg = check_evaluation_params(params)
    tcfg = check_training_params(merge_params(training_params, training_overrides))
    seed = check_int(seed, "seed", minimum=0)
    dev = resolve_device(device)
    k = _check_names(class_names)
    train = validate_bundle(real_train, "real_train", num_classes=k)
    shape = tuple(train["images"].shape[1:])
    test = validate_bundle(real_test, "real_test", num_classes=k)
    if tuple(test["images"].shape[1:]) != shape:
        raise BundleError(f"'real_test' images have shape {tuple(test['images'].shape[1:])} but "
                          f"the classifier was trained on real_train images of shape {shape}.")
    stats = check_normalization(tcfg["raw"], "training", shape[0])
    extractor = select_feature_extractor(cfg)
    states = unpack_states(classifier)
    if sorted(states) != sorted(tcfg["seeds"]):
        raise ParameterError("training.seeds", f"the seeds stored in classifier {sorted(states)}",
                             tcfg["seeds"])

    top1, per_class = [], []
    for s in tcfg["seeds"]:
        model = build_classifier(tcfg["arch"], shape[0], k)
        load_state(model, states[s], "training.architecture", "classifier")
        logits = predict(model.to(dev), test["images"], stats, dev, cfg["batch_size"])
        preds = logits.argmax(1)
        top1.append(float(MulticlassAccuracy(num_classes=k, average="micro")(preds,
                                                                             test["labels"])))
        per_class.append(MulticlassAccuracy(num_classes=k, average=None)(preds, test["labels"]))
    per_class_mean = torch.stack(per_class).mean(0)

    synthetic = None
    if synthetic_kept is not None and len(synthetic_kept.get("labels", [])) > 0:
        synthetic = validate_bundle(synthetic_kept, "synthetic_kept", num_classes=k)
        if tuple(synthetic["images"].shape[1:]) != shape:
            raise BundleError(f"'synthetic_kept' images have shape "
                              f"{tuple(synthetic['images'].shape[1:])}, real_train {shape}.")
    fid = is_mean = is_std = None
    n_eval = 0
    if synthetic is not None and cfg["compute_fid"]:
        refs = {"real_test": test, "real_train": train, "real_reserve": real_reserve}
        ref_bundle = validate_bundle(refs[cfg["fid_reference"]], cfg["fid_reference"],
                                     image_shape=shape, allow_empty=True)
        reference = _subsample(ref_bundle, cfg["max_fid_images"], seed, "reference")
        fake = _subsample(synthetic, cfg["max_fid_images"], seed, "fake")
        n_eval = int(fake.shape[0])
        if extractor == INCEPTION:
            feats, logit_mod = inception_extractors(cfg["inception_weights_path"],
                                                    f"{P}.inception_weights_path")
        else:
            feats, logit_mod = build_evaluator_modules(evaluator, params, shape[0], k)
        start = time.perf_counter()
        fid, is_mean, is_std = fid_and_inception_score(
            reference, fake, feats.to(dev), logit_mod.to(dev), cfg["batch_size"], dev,
            cfg["is_splits"], seed)
        logger.info("FID %s vs %s (%d vs %d images, %s): %s; IS %s ± %s (%.1f s)", "synthetic",
                    cfg["fid_reference"], fake.shape[0], reference.shape[0], extractor, fid,
                    is_mean, is_std, time.perf_counter() - start)

    hist = training_history or {}
    strategy = hist.get("strategy", tcfg["strategy"])
    n_syn_data = int(synthetic["labels"].numel()) if synthetic is not None else 0
    n_synthetic = hist.get("n_synthetic", 0 if strategy in ("real_only", "real_augmented")
                           else n_syn_data)
    n_extra = hist.get("n_extra_real", n_syn_data if strategy == "real_augmented" else 0)
    metrics = {
        "strategy": strategy,
        "seeds": list(tcfg["seeds"]),
        "top1": top1,
        "top1_mean": statistics.fmean(top1),
        "top1_std": statistics.stdev(top1) if len(top1) > 1 else 0.0,
        "per_class_top1": {name: float(per_class_mean[i]) for i, name in enumerate(class_names)},
        "fid": _finite(fid),
        "inception_score": _finite(is_mean),
        "inception_score_std": _finite(is_std),
        "feature_extractor": extractor,
        "fid_reference": cfg["fid_reference"],
        "n_real": int(hist.get("n_real", train["labels"].numel())),
        "n_synthetic": int(n_synthetic),
        "n_extra_real": int(n_extra),
        "n_eval_synthetic": n_eval,
    }
    logger.info("%s: top-1 %.4f ± %.4f over seeds %s", strategy, metrics["top1_mean"],
                metrics["top1_std"], metrics["seeds"])
    return metrics


def build_evaluator_modules(evaluator: Mapping[str, torch.Tensor] | None,
                            params: Mapping[str, Any], in_channels: int,
                            num_classes: int) -> tuple[nn.Module, nn.Module]:
    """Rebuild the evaluator from `evaluation.evaluator` and wrap it for FID features and IS."""
    if evaluator is None:
        raise ParameterError(f"{P}.feature_extractor", "inception-v3 with local weights when no "
                             "evaluator network is given", EVALUATOR)
    ecfg, raw = _evaluator_cfg(params)
    stats = check_normalization(raw, f"{P}.evaluator", in_channels)
    model = build_classifier(ecfg["arch"], in_channels, num_classes)
    load_state(model, evaluator, f"{P}.evaluator.architecture", "evaluator")
    model.eval()
    return EvaluatorFeatures(model, stats), EvaluatorLogits(model, stats)
