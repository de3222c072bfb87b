"""Unit tests of the evaluation nodes: accuracy, FID/IS with the evaluator, extractor choice."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy

from genaug.common.validation import ParameterError
from genaug.models.classifier_training import predict
from genaug.models.classifiers import build_classifier, unpack_states
from genaug.pipelines.evaluation.nodes import evaluate_classifier, train_evaluator
from genaug.pipelines.training.nodes import train_classifier
from genaug.schemas.base import deep_merge, parse
from genaug.schemas.evaluation import EvaluationParams
from tests.support import (
    conf_params,
    evaluation_params,
    names,
    patterns,
    training_params,
)

OVER = {"strategy": "joint", "seeds": [0, 1], "epochs": 1}
TRAIN = training_params(OVER)
EVAL = evaluation_params()
KEYS = {"strategy", "seeds", "top1", "top1_mean", "top1_std", "per_class_top1", "fid",
        "inception_score", "inception_score_std", "feature_extractor", "fid_reference", "n_real",
        "n_synthetic", "n_extra_real", "n_eval_synthetic", "test_correct", "fid_floor",
        "inception_score_floor", "n_floor"}


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
    packed, hist = train_classifier(data["real_train"], names(), data["synthetic"], TRAIN, 5,
                                    "cpu")
    return packed, hist


def _evaluate(data, trained, evaluator, eval_over=None, synthetic="synthetic",
              training=TRAIN, class_names=None):
    packed, hist = trained
    syn = data[synthetic] if synthetic else None
    return evaluate_classifier(packed, hist, syn, data["real_test"], data["real_train"],
                               data["real_reserve"], evaluator, None, class_names or names(),
                               evaluation_params(eval_over), training, 5, "cpu")


def _model(packed, seed):
    model = build_classifier(TRAIN, 1, 4)
    model.load_state_dict(unpack_states(packed)[seed])
    return model


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
    packed, _ = trained
    preds = predict(_model(packed, 1), data["real_test"]["images"], TRAIN.normalize.stats(),
                    torch.device("cpu"), 64).argmax(1)
    target = data["real_test"]["labels"]
    assert metrics["top1"][1] == pytest.approx(float((preds == target).float().mean()))
    # Per-image correctness per seed, in real_test order: the pairs of the one-seed test.
    assert metrics["test_correct"]["1"] == "".join(
        "1" if hit else "0" for hit in (preds == target).tolist())
    assert set(metrics["test_correct"]) == {"0", "1"}
    assert metrics["top1"][1] == pytest.approx(float(
        MulticlassAccuracy(num_classes=4, average="micro")(preds, target)))
    per_class = torch.stack([
        MulticlassAccuracy(num_classes=4, average=None)(
            predict(_model(packed, s), data["real_test"]["images"], None, torch.device("cpu"),
                    64).argmax(1), target) for s in (0, 1)]).mean(0)
    assert list(metrics["per_class_top1"].values()) == pytest.approx(per_class.tolist())
    expected_std = torch.tensor(metrics["top1"]).std().item()
    assert metrics["top1_std"] == pytest.approx(expected_std)


def test_real_floor_is_a_same_size_real_set_from_the_reserve(data, trained, evaluator):
    metrics = _evaluate(data, trained, evaluator)
    assert metrics["n_floor"] == metrics["n_eval_synthetic"] == 32
    assert metrics["fid_floor"] >= 0 and metrics["inception_score_floor"] >= 1.0 - 1e-6
    assert metrics["fid_floor"] != metrics["fid"]
    # The floor's images are the reserve's: the synthetic set replaced by the reserve itself
    # gives the same FID as the floor drawn from it (same class counts, all of them).
    whole = {**data, "synthetic": data["real_reserve"]}
    same = _evaluate(whole, trained, evaluator)
    assert same["fid_floor"] == pytest.approx(same["fid"])


def test_no_synthetic_set_gives_null_fid(data, trained, evaluator):
    metrics = _evaluate(data, trained, evaluator, synthetic=None)
    assert metrics["fid"] is None and metrics["inception_score"] is None
    assert metrics["fid_floor"] is None and metrics["n_floor"] == 0
    assert metrics["n_eval_synthetic"] == 0


def test_fid_reference_and_subsample_are_honoured(data, trained, evaluator):
    full = _evaluate(data, trained, evaluator, {"fid_reference": "real_reserve"})
    assert full["fid_reference"] == "real_reserve" and full["n_eval_synthetic"] == 32
    assert full["fid"] != _evaluate(data, trained, evaluator)["fid"]
    sub = _evaluate(data, trained, evaluator, {"max_fid_images": 10})
    assert sub["n_eval_synthetic"] == 10
    assert _evaluate(data, trained, evaluator, {"max_fid_images": 10}) == sub  # seeded
    off = _evaluate(data, trained, evaluator, {"compute_fid": False})
    assert off["fid"] is None and off["top1"] == full["top1"]


def test_wrong_architecture_weights_name_the_parameter(data, trained, evaluator):
    with pytest.raises(ParameterError, match=r"training\.architecture"):
        _evaluate(data, trained, evaluator, synthetic=None,
                  training=training_params(dict(OVER, architecture="resnet18")))
    with pytest.raises(ParameterError, match=r"training\.seeds"):
        _evaluate(data, trained, evaluator, synthetic=None,
                  training=training_params(dict(OVER, seeds=[0])))
    with pytest.raises(ParameterError, match=r"training\.architecture"):  # class count differs
        _evaluate(data, trained, evaluator, synthetic=None, class_names=[*names(), "extra"])


@pytest.mark.parametrize("extractor", ["inception-v3", "auto"])
def test_missing_inception_weights_fail_when_parameters_are_read(tmp_path, extractor):
    """A weights file that would be used must exist before anything runs (auto included: it no
    longer falls back to the evaluator network hours into a run)."""
    missing = {"feature_extractor": extractor,
               "inception_weights_path": str(tmp_path / "nope.pth")}
    with pytest.raises(ParameterError, match=r"evaluation\.inception_weights_path.*nothing is "
                                             r"downloaded"):
        parse(EvaluationParams, deep_merge(conf_params("evaluation"), missing), "evaluation")
