"""FID/IS engine and the choice of feature extractor."""

from __future__ import annotations

import pytest
import torch

from genaug.common.validation import ParameterError
from genaug.models.feature_extractors import (
    check_inception_weights,
    evaluator_extractors,
    select_feature_extractor,
)
from genaug.models.fid import (
    fid_and_inception_score,
    finite_or_none,
    reference_statistics,
    subsample,
)
from genaug.pipelines.evaluation.nodes import train_evaluator
from tests.support import evaluation_params, names, patterns

EVAL = evaluation_params()


@pytest.fixture(scope="module")
def evaluator():
    return train_evaluator(patterns(12, 4, seed=1), patterns(12, 4, seed=2),
                           patterns(10, 4, seed=3), names(), EVAL, 5, "cpu")


def test_fid_self_is_zero_and_grows_with_noise(evaluator):
    feats, logits = evaluator_extractors(evaluator, EVAL.evaluator, 1, 4)
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


def test_inception_score_is_seeded_and_leaves_the_global_rng_alone(evaluator):
    feats, logits = evaluator_extractors(evaluator, EVAL.evaluator, 1, 4)
    images = patterns(10, 4, seed=7)["images"]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = fid_and_inception_score(images, images, feats, logits, 16, torch.device("cpu"), 3, 9)
    assert torch.equal(torch.get_rng_state(), state)
    assert fid_and_inception_score(images, images, feats, logits, 16, torch.device("cpu"), 3,
                                   9) == first
    assert 1.0 - 1e-6 <= first[1] <= 4.0 and first[2] >= 0.0  # IS of k classes is in [1, k]
    assert fid_and_inception_score(images, images[:1], feats, logits, 16, torch.device("cpu"), 3,
                                   9) == (None, None, None)  # one image has no covariance


def test_no_evaluator_network_names_the_parameter():
    with pytest.raises(ParameterError, match=r"evaluation\.feature_extractor"):
        evaluator_extractors(None, EVAL.evaluator, 1, 4)


def test_subsample_is_seeded_ordered_and_bounded():
    images = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1)
    assert subsample(images, None, 0, "fake") is images
    assert subsample(images, 20, 0, "fake") is images
    picked = subsample(images, 5, 0, "fake").flatten().tolist()
    assert len(picked) == 5 and picked == sorted(picked) and len(set(picked)) == 5
    assert subsample(images, 5, 0, "fake").flatten().tolist() == picked
    assert subsample(images, 5, 0, "reference").flatten().tolist() != picked


def test_finite_or_none():
    assert finite_or_none(1.5) == 1.5
    assert finite_or_none(None) is None
    assert finite_or_none(float("nan")) is None and finite_or_none(float("inf")) is None


def test_inception_selection_and_unsafe_weights(tmp_path):
    weights = tmp_path / "inception.pth"
    assert select_feature_extractor("auto", None) == "evaluator-cnn"
    torch.save({"w": torch.zeros(1)}, weights)
    assert select_feature_extractor("auto", str(weights)) == "inception-v3"
    assert select_feature_extractor("evaluator-cnn", str(weights)) == "evaluator-cnn"
    bad = tmp_path / "pickled.pth"
    torch.save({"f": print}, bad)
    with pytest.raises(ParameterError, match="weights_only"):
        check_inception_weights(str(bad), "evaluation.inception_weights_path")


def test_reference_statistics_give_the_same_fid_as_the_images(evaluator):
    feats, logits = evaluator_extractors(evaluator, EVAL.evaluator, 1, 4)
    reference, fake = patterns(30, 4, seed=6)["images"], patterns(20, 4, seed=7)["images"]
    stats = reference_statistics(reference, feats, 64, torch.device("cpu"))
    assert int(stats["real_features_num_samples"]) == reference.shape[0]
    direct = fid_and_inception_score(reference, fake, feats, logits, 64, torch.device("cpu"), 2, 0)
    cached = fid_and_inception_score(stats, fake, feats, logits, 64, torch.device("cpu"), 2, 0)
    assert cached == direct  # the same sums: bit-identical FID and IS
