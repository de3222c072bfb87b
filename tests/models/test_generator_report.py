"""Generator report engine and nodes on constructed pools with known answers: a pool copied
from real_train is memorized and as faithful as the evaluator is on those images; a pool of noise
is neither; CAS separates a learnable pool from a mislabelled one."""

from __future__ import annotations

import pytest
import torch

from genaug.models import generator_report as R
from genaug.models.classifier_training import predict, top1_accuracy
from genaug.models.classifiers import build_classifier, load_state
from genaug.pipelines.evaluation.nodes import train_evaluator
from genaug.pipelines.generator_report.nodes import generator_report, kept_label_fidelity
from genaug.schemas.generator_report import GeneratorReportParams
from tests.support import evaluation_params, names, patterns, training_params

EVAL = evaluation_params({"evaluator": {"epochs": 4}})
TRAIN = training_params({"strategy": "real_only", "epochs": 6})
CPU = torch.device("cpu")
K = 4


@pytest.fixture(scope="module")
def data() -> dict[str, dict[str, torch.Tensor]]:
    """Separable stripe images: real_train, real_reserve, real_test."""
    return {"train": patterns(16, K, seed=1), "reserve": patterns(16, K, seed=2),
            "test": patterns(16, K, seed=3)}


@pytest.fixture(scope="module")
def evaluator(data) -> dict[str, torch.Tensor]:
    """The evaluator network trained as the pipeline trains it."""
    torch.set_num_threads(1)
    return train_evaluator(data["train"], data["reserve"], data["test"], names(K), EVAL, 5,
                           "cpu")


def _noise(n: int, seed: int = 9) -> dict[str, torch.Tensor]:
    """Uniform noise images with balanced labels."""
    gen = torch.Generator().manual_seed(seed)
    return {"images": torch.randint(0, 256, (n, 1, 16, 16), generator=gen, dtype=torch.uint8),
            "labels": torch.arange(n) % K}


def test_nearest_real_matches_brute_force() -> None:
    gen = torch.Generator().manual_seed(0)
    queries = torch.randint(0, 256, (7, 1, 4, 4), generator=gen, dtype=torch.uint8)
    reference = torch.randint(0, 256, (5, 1, 4, 4), generator=gen, dtype=torch.uint8)
    dist, index = R.nearest_real(queries, reference, batch_size=3)
    brute = ((queries.flatten(1)[:, None].double() - reference.flatten(1)[None].double()) / 255
             ).pow(2).sum(-1).sqrt()
    torch.testing.assert_close(dist, brute.min(1).values)
    assert torch.equal(index, brute.argmin(1))


def test_copied_pool_is_memorized_and_as_faithful_as_the_evaluator(data, evaluator) -> None:
    """Pool = real_train: every image is at distance 0 from real_train (share 1), and its label
    fidelity is exactly the evaluator's accuracy on those images."""
    pool = data["train"]
    dist, _ = R.nearest_real(pool["images"], data["train"]["images"], 64)
    test_dist, _ = R.nearest_real(data["test"]["images"], data["train"]["images"], 64)
    memo = R.memorization(dist, test_dist, 0.01)
    assert memo["share"] == 1.0 and memo["pool_nn_median"] < 1e-5 < memo["threshold"]
    fidelity = R.label_fidelity(R.evaluator_predictions(evaluator, EVAL, pool["images"], K, CPU),
                                pool["labels"], names(K))
    model = build_classifier(EVAL.evaluator, 1, K)
    load_state(model, evaluator, "evaluator", "evaluator")
    logits = predict(model, pool["images"], EVAL.evaluator.normalize.stats(), CPU, 64)
    assert fidelity["overall"] == pytest.approx(top1_accuracy(logits.argmax(1), pool["labels"],
                                                              K))
    assert fidelity["overall"] > 0.8  # the evaluator learned the stripes


def test_noise_pool_is_neither_faithful_nor_memorized(data, evaluator) -> None:
    noise = _noise(64)
    fidelity = R.label_fidelity(R.evaluator_predictions(evaluator, EVAL, noise["images"], K, CPU),
                                noise["labels"], names(K))
    assert fidelity["overall"] <= 0.4  # about chance (1/K) or worse
    dist, _ = R.nearest_real(noise["images"], data["train"]["images"], 64)
    test_dist, _ = R.nearest_real(data["test"]["images"], data["train"]["images"], 64)
    assert R.memorization(dist, test_dist, 0.01)["share"] == 0.0


def test_independent_real_pool_has_memorization_share_near_the_quantile(data) -> None:
    """Images drawn like real_test (but not copied) are 'memorized' about as often as the
    quantile says: the threshold is calibrated on real_test itself."""
    reference = patterns(60, K, seed=11)
    train = data["train"]["images"]
    test_dist, _ = R.nearest_real(reference["images"], train, 64)
    pool_dist, _ = R.nearest_real(patterns(60, K, seed=12)["images"], train, 64)
    assert R.memorization(test_dist, test_dist, 0.1)["share"] == pytest.approx(0.1, abs=0.01)
    assert R.memorization(pool_dist, test_dist, 0.1)["share"] < 0.25


def test_cas_separates_a_learnable_pool_from_a_mislabelled_one(data) -> None:
    """CAS of real-like synthetic images is high; shuffling their labels drops it to chance."""
    good = patterns(20, K, seed=4)
    shuffled = {"images": good["images"],
                "labels": good["labels"][torch.randperm(good["labels"].numel(),
                                                        generator=torch.Generator()
                                                        .manual_seed(0))]}
    cas_good = R.classification_accuracy_score(good, data["test"], TRAIN, K, 0, CPU, 64)
    cas_bad = R.classification_accuracy_score(shuffled, data["test"], TRAIN, K, 0, CPU, 64)
    assert cas_good["top1_mean"] > 0.8 and cas_bad["top1_mean"] < 0.5
    assert cas_good["seconds"] > 0 and cas_good["seeds"] == list(TRAIN.seeds)


def test_report_node_and_kept_fidelity_of_a_pool_half_copied_half_noise(data, evaluator) -> None:
    """Pool = real_train + as many noise images: the report's numbers follow from the two halves,
    and a kept set holding only the copied half shows the dropped (noise) half's fidelity."""
    real, noise = data["train"], _noise(data["train"]["labels"].numel())
    pool = {key: torch.cat([real[key], noise[key]]) for key in ("images", "labels")}
    params = GeneratorReportParams(closest_pairs=4)
    report, figure = generator_report(pool, real, data["test"], evaluator, names(K), params, EVAL,
                                      TRAIN, 5, "cpu")
    hits_real = R.label_fidelity(R.evaluator_predictions(evaluator, EVAL, real["images"], K,
                                                         CPU), real["labels"], names(K))["hits"]
    hits_noise = R.label_fidelity(R.evaluator_predictions(evaluator, EVAL, noise["images"], K,
                                                          CPU), noise["labels"], names(K))["hits"]
    n = pool["labels"].numel()
    assert report["n_pool"] == n
    assert report["label_fidelity"] == pytest.approx((hits_real + hits_noise) / n)
    assert report["memorization_share"] == pytest.approx(0.5)
    assert report["cas"] == report["cas_detail"]["top1_mean"]
    assert report["seconds"]["cas"] == report["cas_detail"]["seconds"] > 0
    assert report["feature_extractor"] == "evaluator-cnn" and report["fid"] > 0
    assert len(figure.axes) == 1 + 2 * 4  # fidelity bars + 4 pool/real pairs
    kept = kept_label_fidelity(report, evaluator, names(K), EVAL, "cpu", only_real=real)
    row = kept["arms"]["only_real"]
    assert row["n_kept"] == real["labels"].numel() and row["n_dropped"] == noise["labels"].numel()
    assert row["label_fidelity"] == pytest.approx(hits_real / real["labels"].numel())
    assert row["dropped_label_fidelity"] == pytest.approx(hits_noise / noise["labels"].numel())
    assert kept["pool"]["label_fidelity"] == report["label_fidelity"]
