"""Unit tests of the evaluation nodes: accuracy, FID/IS with the evaluator, extractor choice."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy

from genaug.common.validation import ParameterError
from genaug.models.classifiers import build_classifier, check_architecture, unpack_states
from genaug.models.feature_extractors import check_inception_weights
from genaug.pipelines.evaluation.nodes import (
    build_evaluator_modules,
    evaluate_classifier,
    fid_and_inception_score,
    select_feature_extractor,
    train_evaluator,
)
from genaug.pipelines.training.nodes import check_normalization, predict, train_classifier
from tests.pipelines.training.helpers import conf_params, names, patterns

TRAIN = conf_params("training")
EVAL = conf_params("evaluation")
KEYS = {"strategy", "seeds", "top1", "top1_mean", "top1_std", "per_class_top1", "fid",
        "inception_score", "inception_score_std", "feature_extractor", "fid_reference", "n_real",
        "n_synthetic", "n_extra_real", "n_eval_synthetic"}


@pytest.fixture(scope="module")
def data():
    return {"real_train": patterns(12, 4, seed=1), "real_reserve": patterns(12, 4, seed=2),
            "real_test": patterns(10, 4, seed=3), "synthetic": patterns(8, 4, seed=4)}


@pytest.fixture(scope="module")
def evaluator(data):
    return train_evaluator(data["real_train"], data["real_reserve"], data["real_test"], names(),
                           EVAL, 5, "cpu")


@pytest.fixture(scope="module")
def trained(data):
    over = {"strategy": "joint", "seeds": [0, 1], "epochs": 1}
    packed, hist = train_classifier(data["real_train"], data["real_reserve"], names(),
                                    data["synthetic"], TRAIN, over, 5, "cpu")
    return over, packed, hist


def _evaluate(data, trained, evaluator, eval_over=None, synthetic="synthetic"):
    over, packed, hist = trained
    syn = data[synthetic] if synthetic else None
    return evaluate_classifier(packed, hist, syn, data["real_test"], data["real_train"],
                               data["real_reserve"], evaluator, names(), EVAL, eval_over or {},
                               TRAIN, over, 5, "cpu")


def test_metrics_schema_and_accuracy_matches_torchmetrics(data, trained, evaluator):
    metrics = _evaluate(data, trained, evaluator)
    assert set(metrics) == KEYS
    assert metrics["seeds"] == [0, 1] and len(metrics["top1"]) == 2
    assert metrics["feature_extractor"] == "evaluator-cnn"
    assert metrics["fid_reference"] == "real_test"
    assert (metrics["n_real"], metrics["n_synthetic"], metrics["n_eval_synthetic"]) == (48, 32, 32)
    assert metrics["fid"] is not None and metrics["fid"] >= 0
    assert metrics["inception_score"] >= 1.0 - 1e-6
    # recompute seed 1's predictions directly and compare with torchmetrics
    _over, packed, _ = trained
    model = build_classifier(check_architecture(TRAIN, "training"), 1, 4)
    model.load_state_dict(unpack_states(packed)[1])
    preds = predict(model, data["real_test"]["images"], check_normalization(TRAIN, "training", 1),
                    torch.device("cpu"), 64).argmax(1)
    target = data["real_test"]["labels"]
    assert metrics["top1"][1] == pytest.approx(float((preds == target).float().mean()))
    assert metrics["top1"][1] == pytest.approx(float(
        MulticlassAccuracy(num_classes=4, average="micro")(preds, target)))
    per_class = torch.stack([
        MulticlassAccuracy(num_classes=4, average=None)(
            predict(_model(packed, s), data["real_test"]["images"], None, torch.device("cpu"),
                    64).argmax(1), target) for s in (0, 1)]).mean(0)
    assert list(metrics["per_class_top1"].values()) == pytest.approx(per_class.tolist())
    expected_std = torch.tensor(metrics["top1"]).std().item()
    assert metrics["top1_std"] == pytest.approx(expected_std)


def _model(packed, seed):
    model = build_classifier(check_architecture(TRAIN, "training"), 1, 4)
    model.load_state_dict(unpack_states(packed)[seed])
    return model


def test_no_synthetic_set_gives_null_fid(data, trained, evaluator):
    metrics = _evaluate(data, trained, evaluator, synthetic=None)
    assert metrics["fid"] is None and metrics["inception_score"] is None
    assert metrics["n_eval_synthetic"] == 0


def test_fid_self_is_zero_and_grows_with_noise(data, evaluator):
    feats, logits = build_evaluator_modules(evaluator, EVAL, 1, 4)
    images = patterns(30, 4, seed=6)["images"]
    gen = torch.Generator().manual_seed(0)
    results = []
    for sigma in (0.0, 30.0, 90.0):
        noisy = (images.float() + torch.randn(images.shape, generator=gen) * sigma)
        noisy = noisy.clamp(0, 255).round().to(torch.uint8)
        fid, _is_mean, _ = fid_and_inception_score(images, noisy, feats, logits, 64,
                                                  torch.device("cpu"), 2, 0)
        results.append(fid)
    assert results[0] == pytest.approx(0.0, abs=1e-3)
    assert results[0] < results[1] < results[2]


def test_wrong_architecture_weights_name_the_parameter(data, trained, evaluator):
    over, packed, hist = trained
    with pytest.raises(ParameterError, match=r"training\.architecture"):
        evaluate_classifier(packed, hist, None, data["real_test"], data["real_train"],
                            data["real_reserve"], evaluator, names(), EVAL, {}, TRAIN,
                            dict(over, architecture="resnet18"), 5, "cpu")
    with pytest.raises(ParameterError, match=r"training\.seeds"):
        evaluate_classifier(packed, hist, None, data["real_test"], data["real_train"],
                            data["real_reserve"], evaluator, names(), EVAL, {}, TRAIN,
                            dict(over, seeds=[0]), 5, "cpu")
    with pytest.raises(ParameterError, match=r"training\.architecture"):  # class count differs
        evaluate_classifier(packed, hist, None, data["real_test"], data["real_train"],
                            data["real_reserve"], evaluator, [*names(), "extra"], EVAL, {},
                            TRAIN, over, 5, "cpu")


def test_inception_selection_and_missing_weights(tmp_path, data, trained, evaluator):
    weights = tmp_path / "inception.pth"
    cfg = {"feature_extractor": "auto", "inception_weights_path": str(weights)}
    assert select_feature_extractor(cfg) == "evaluator-cnn"  # configured but missing: fallback
    torch.save({"w": torch.zeros(1)}, weights)
    assert select_feature_extractor(cfg) == "inception-v3"
    assert select_feature_extractor({**cfg, "feature_extractor": "evaluator-cnn"}) == \
        "evaluator-cnn"
    missing = {"feature_extractor": "inception-v3",
               "inception_weights_path": str(tmp_path / "nope.pth")}
    with pytest.raises(ParameterError, match=r"evaluation\.inception_weights_path.*nothing is "
                                             r"downloaded"):
        _evaluate(data, trained, evaluator, missing)
    bad = tmp_path / "pickled.pth"
    torch.save({"f": print}, bad)
    with pytest.raises(ParameterError, match="weights_only"):
        check_inception_weights(str(bad), "evaluation.inception_weights_path")


@pytest.mark.parametrize(("over", "key"), [
    ({"feature_extractor": "clip"}, "evaluation.feature_extractor"),
    ({"fid_reference": "real_val"}, "evaluation.fid_reference"),
    ({"batch_size": 0}, "evaluation.batch_size"),
    ({"max_fid_images": 1}, "evaluation.max_fid_images"),
])
def test_bad_evaluation_params_name_the_key(data, trained, evaluator, over, key):
    with pytest.raises(ParameterError, match=key.replace(".", r"\.")):
        _evaluate(data, trained, evaluator, over)


def test_bad_evaluator_params_name_the_key(data):
    bad = {**EVAL, "evaluator": {**EVAL["evaluator"], "architecture": "vit"}}
    with pytest.raises(ParameterError, match=r"evaluation\.evaluator\.architecture"):
        train_evaluator(data["real_train"], data["real_reserve"], data["real_test"], names(), bad,
                        5, "cpu")
