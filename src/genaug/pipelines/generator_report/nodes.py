"""Generator report nodes: the pool's label fidelity, CAS, memorization and FID/IS against real
data, and the label fidelity (and, for the quality grid, the CAS) of each arm's filtered (kept)
set. Engines: `models/generator_report`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import torch
from matplotlib.figure import Figure

from genaug.common.bundles import Bundle, validate_bundle
from genaug.common.device import resolve_device
from genaug.common.threads import torch_threads
from genaug.fingerprints import depends_on
from genaug.models import generator_report as R
from genaug.models.classifiers import num_classes_of
from genaug.schemas.evaluation import EvaluationParams
from genaug.schemas.generator_report import GeneratorReportParams
from genaug.schemas.training import TrainingParams

logger = logging.getLogger(__name__)
# The evaluation keys the report reads (the evaluator network and FID/IS settings).
_EVALUATION_KEYS = ("evaluator", "feature_extractor", "inception_weights_path", "max_fid_images",
                    "is_splits", "batch_size")


@depends_on(evaluation=_EVALUATION_KEYS)
def generator_report(synthetic_pool: Bundle, real_train: Bundle, real_test: Bundle,
                     evaluator: dict[str, torch.Tensor], class_names: list[str],
                     params: GeneratorReportParams, evaluation: EvaluationParams,
                     training: TrainingParams, seed: int, device: str
                     ) -> tuple[dict[str, Any], Figure]:
    """The pool's label fidelity, CAS, memorization and FID/IS (JSON) and its figure."""
    dev = resolve_device(device)
    k = num_classes_of(class_names)
    train = validate_bundle(real_train, "real_train", num_classes=k)
    shape = tuple(train["images"].shape[1:])
    pool = validate_bundle(synthetic_pool, "synthetic_pool", num_classes=k, image_shape=shape)
    test = validate_bundle(real_test, "real_test", num_classes=k, image_shape=shape)
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    fidelity = R.label_fidelity(R.evaluator_predictions(evaluator, evaluation, pool["images"], k,
                                                        dev), pool["labels"], class_names)
    evaluator_test = R.label_fidelity(R.evaluator_predictions(evaluator, evaluation,
                                                              test["images"], k, dev),
                                      test["labels"], class_names)
    seconds["label_fidelity"] = round(time.perf_counter() - start, 3)

    start = time.perf_counter()
    pool_nn, neighbours = R.nearest_real(pool["images"], train["images"], params.nn_batch_size)
    test_nn, _ = R.nearest_real(test["images"], train["images"], params.nn_batch_size)
    memo = R.memorization(pool_nn, test_nn, params.memorization_quantile)
    seconds["memorization"] = round(time.perf_counter() - start, 3)

    cas = _cas(pool, test, params, training, evaluation, k, seed, dev)
    if cas:
        seconds["cas"] = cas["seconds"]

    start = time.perf_counter()
    fid = R.fid_and_is(pool["images"], test["images"], evaluator, evaluation, k, seed, dev)
    seconds["fid_is"] = round(time.perf_counter() - start, 3)

    report = _report(fidelity, evaluator_test, cas, memo, fid, seconds, train, test)
    logger.info("generator report: label fidelity %.4f (evaluator on real_test %.4f), CAS %s, "
                "memorized %.4f (pool NN median %.3f vs real_test %.3f), FID %s (%s); %s",
                fidelity["overall"], evaluator_test["overall"],
                f"{cas['top1_mean']:.4f} in {cas['seconds']:.1f} s" if cas else "off",
                memo["share"], memo["pool_nn_median"], memo["real_test_nn_median"],
                fid["fid"], fid["feature_extractor"], seconds)
    figure = R.report_figure(pool, train, pool_nn, neighbours, fidelity, memo,
                             params.closest_pairs)
    return report, figure


def _cas(pool: Bundle, test: Bundle, params: GeneratorReportParams, training: TrainingParams,
         evaluation: EvaluationParams, num_classes: int, seed: int,
         device: torch.device) -> dict[str, Any] | None:
    """The CAS: the baseline's classifier settings trained on the pool alone (None when off)."""
    if not params.cas:
        return None
    cas_training = training.model_copy(update={"seeds": training.seeds[:params.cas_seeds]})
    with torch_threads(training.num_threads):
        return R.classification_accuracy_score(pool, test, cas_training, num_classes, seed,
                                               device, evaluation.batch_size)


def _report(fidelity: Mapping[str, Any], evaluator_test: Mapping[str, Any],
            cas: Mapping[str, Any] | None, memo: Mapping[str, Any], fid: Mapping[str, Any],
            seconds: dict[str, float], train: Bundle, test: Bundle) -> dict[str, Any]:
    """The report's JSON from its parts."""
    return {
        "n_pool": fidelity["n"], "n_real_train": int(train["labels"].numel()),
        "n_real_test": int(test["labels"].numel()),
        "label_fidelity": fidelity["overall"],
        "label_fidelity_per_class": fidelity["per_class"],
        "label_fidelity_hits": fidelity["hits"],
        "evaluator_real_test_top1": evaluator_test["overall"],
        "evaluator_real_test_per_class": evaluator_test["per_class"],
        "cas": cas["top1_mean"] if cas else None,
        "cas_detail": cas,
        "memorization_share": memo["share"],
        "memorization": memo,
        **fid,
        "seconds": seconds,
    }


@depends_on(evaluation=("evaluator",))
def kept_label_fidelity(generator_report: Mapping[str, Any], evaluator: dict[str, torch.Tensor],
                        class_names: list[str], evaluation: EvaluationParams, device: str,
                        **kept: Bundle) -> dict[str, Any]:
    """Label fidelity of every arm's kept set and of what its filter dropped, beside the pool's.

    `kept` maps an arm to its kept bundle (a subset of the pool), so the dropped images' fidelity
    follows from the pool's and the kept set's hit counts.
    """
    dev = resolve_device(device)
    k = num_classes_of(class_names)
    n_pool, pool_hits = generator_report["n_pool"], generator_report["label_fidelity_hits"]
    arms = {}
    for arm, bundle in kept.items():
        images = validate_bundle(bundle, f"{arm}.synthetic_kept", num_classes=k,
                                 allow_empty=True)
        fidelity = R.label_fidelity(R.evaluator_predictions(evaluator, evaluation,
                                                            images["images"], k, dev),
                                    images["labels"], class_names)
        n_dropped = n_pool - fidelity["n"]
        arms[arm] = {"n_kept": fidelity["n"], "label_fidelity": fidelity["overall"],
                     "label_fidelity_per_class": fidelity["per_class"],
                     "n_dropped": n_dropped,
                     "dropped_label_fidelity": (pool_hits - fidelity["hits"]) / n_dropped
                     if n_dropped else None}
        logger.info("%s: kept %d images with label fidelity %s, dropped %d with %s", arm,
                    fidelity["n"], fidelity["overall"], n_dropped,
                    arms[arm]["dropped_label_fidelity"])
    return {"pool": {"n": n_pool, "label_fidelity": generator_report["label_fidelity"]},
            "arms": arms}


@depends_on(params=("cas", "cas_seeds"), evaluation=("batch_size",))
def kept_set_cas(generator_report: Mapping[str, Any], real_test: Bundle, class_names: list[str],
                 params: GeneratorReportParams, evaluation: EvaluationParams,
                 training: TrainingParams, seed: int, device: str,
                 **kept: Bundle) -> dict[str, Any]:
    """CAS of every arm's kept set: the pool's CAS settings, trained on the kept images alone.

    A kept set holding the whole pool (drop fraction 0) takes the pool's CAS from its report
    (the same images, settings and seed: the same number, not trained twice).
    """
    dev = resolve_device(device)
    k = num_classes_of(class_names)
    test = validate_bundle(real_test, "real_test", num_classes=k)
    arms: dict[str, Any] = {}
    for arm, bundle in kept.items():
        images = validate_bundle(bundle, f"{arm}.synthetic_kept", num_classes=k,
                                 allow_empty=True)
        n = int(images["labels"].numel())
        if n == generator_report["n_pool"] and generator_report.get("cas") is not None:
            arms[arm] = {"n_kept": n, "cas": generator_report["cas"], "from": "pool report"}
            continue
        cas = _cas(images, test, params, training, evaluation, k, seed, dev) if n else None
        arms[arm] = {"n_kept": n, "cas": cas["top1_mean"] if cas else None, "from": "trained",
                     "seconds": cas["seconds"] if cas else 0.0}
        logger.info("%s: CAS of its %d kept images %s", arm, n, arms[arm]["cas"])
    return {"pool": {"n": generator_report["n_pool"], "cas": generator_report.get("cas")},
            "arms": arms}
