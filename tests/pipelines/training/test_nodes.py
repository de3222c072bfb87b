"""Unit tests of the training nodes: strategies, sampler, seeds, bad parameters."""

from __future__ import annotations

import pytest
import torch

from genaug.common.validation import ParameterError
from genaug.models.classifiers import build_classifier, check_architecture, unpack_states
from genaug.pipelines.training.nodes import (
    MixedBatchSampler,
    build_augment,
    check_normalization,
    predict,
    train_classifier,
)
from tests.pipelines.training.helpers import conf_params, names, patterns

PARAMS = conf_params("training")


def _train(over, real=None, synthetic=None, reserve=None, k=4):
    real = patterns(20, k, seed=1) if real is None else real
    synthetic = patterns(10, k, seed=2) if synthetic is None else synthetic
    reserve = patterns(15, k, seed=3) if reserve is None else reserve
    return train_classifier(real, reserve, names(k), synthetic, PARAMS, over, 7, "cpu")


def _accuracy(packed, history, params, test, seed=0):
    cfg = check_architecture(params, "training")
    model = build_classifier(cfg, test["images"].shape[1], history["num_classes"])
    model.load_state_dict(unpack_states(packed)[seed])
    logits = predict(model, test["images"], check_normalization(params, "training", 1),
                     torch.device("cpu"), 64)
    return float((logits.argmax(1) == test["labels"]).float().mean())


def test_real_only_beats_chance_on_separable_patterns():
    over = {"strategy": "real_only", "epochs": 6}
    packed, history = _train(over)
    acc = _accuracy(packed, history, PARAMS, patterns(25, 4, seed=9))
    assert acc > 0.75  # chance is 0.25
    phases = history["runs"]["0"]["phases"]
    assert [p["name"] for p in phases] == ["train"]
    assert phases[0]["images_seen"] == {"real": 6 * 80, "synthetic": 0, "extra_real": 0}
    assert history["n_synthetic"] == 0


def test_fashion_mnist_subset_beats_chance():
    from genaug.datasets import IDXImageDataset
    from genaug.pipelines.data_processing.nodes import make_real_splits
    from tests.pipelines.training.helpers import REPO

    raw = REPO / "data/01_raw/fashion-mnist"

    def load(split):
        return IDXImageDataset(images_filepath=str(raw / f"{split}-images-idx3-ubyte.gz"),
                               labels_filepath=str(raw / f"{split}-labels-idx1-ubyte.gz")).load()

    dp = conf_params("data_processing")
    dp.update(classes=["T-shirt/top", "Trouser", "Sneaker", "Bag"], train_per_class=20,
              reserve_per_class=0, test_per_class=25)
    train, reserve, test, classes = make_real_splits(load("train"), load("t10k"), dp, 3)
    small = {"widths": [16, 32, 32], "convs_per_stage": 1, "dropout": 0.0}
    packed, history = train_classifier(train, reserve, classes, None, PARAMS,
                                       {"strategy": "real_only", "epochs": 15, "fast_cnn": small},
                                       3, "cpu")
    params = {**PARAMS, "fast_cnn": small}
    assert _accuracy(packed, history, params, test) > 0.6  # chance 0.25


def test_sequential_runs_two_phases_on_separate_pools():
    _packed, history = _train({"strategy": "sequential", "pretrain": {"epochs": 2},
                              "finetune": {"epochs": 1, "lr": 0.0005}})
    pre, fine = history["runs"]["0"]["phases"]
    assert (pre["name"], fine["name"]) == ("pretrain", "finetune")
    assert pre["images_seen"] == {"real": 0, "synthetic": 2 * 40, "extra_real": 0}
    assert fine["images_seen"] == {"real": 80, "synthetic": 0, "extra_real": 0}
    assert (pre["epochs"], fine["epochs"], fine["lr"]) == (2, 1, 0.0005)
    assert history["n_synthetic"] == 40


@pytest.mark.parametrize(("batch", "fraction"), [(16, 0.25), (10, 0.33), (8, 0.0), (8, 1.0)])
def test_mixed_batch_sampler_holds_the_fraction(batch, fraction):
    n_real, n_syn = 50, 30
    sampler = MixedBatchSampler(n_real, n_syn, batch, fraction, torch.Generator().manual_seed(0))
    want = round(batch * fraction)
    batches = [b for _ in range(3) for b in sampler]
    assert batches and all(len(b) == batch for b in batches)
    assert all(sum(i >= n_real for i in b) == want for b in batches)
    if want < batch:  # epoch basis "real": every real image once per epoch (wrapping at the end)
        assert len(sampler) == -(-n_real // (batch - want))
        fresh = MixedBatchSampler(n_real, n_syn, batch, fraction, torch.Generator())
        first = [i for b in list(fresh)[: n_real // (batch - want)] for i in b if i < n_real]
        assert len(set(first)) == len(first)
    union = MixedBatchSampler(n_real, n_syn, batch, fraction, torch.Generator(), "union")
    assert len(union) == -(-(n_real + n_syn) // batch)


def test_joint_ratio_and_concat_images_seen():
    _, hist = _train({"strategy": "joint", "mix": "ratio", "synthetic_fraction": 0.25})
    seen = hist["runs"]["0"]["phases"][0]["images_seen"]
    # batch 16 -> 4 synthetic + 12 real per step; epoch = ceil(80 / 12) = 7 steps; 2 epochs
    assert seen == {"real": 2 * 7 * 12, "synthetic": 2 * 7 * 4, "extra_real": 0}
    _, hist = _train({"strategy": "joint", "mix": "concat"})
    seen = hist["runs"]["0"]["phases"][0]["images_seen"]
    assert seen == {"real": 2 * 80, "synthetic": 2 * 40, "extra_real": 0}


def test_real_augmented_draws_matching_real_images():
    synthetic = patterns(10, 4, seed=2)
    synthetic = {"images": synthetic["images"][5:], "labels": synthetic["labels"][5:]}
    _, hist = _train({"strategy": "real_augmented", "mix": "concat"}, synthetic=synthetic)
    assert hist["n_extra_real"] == 35 and hist["n_synthetic"] == 0
    assert hist["runs"]["0"]["phases"][0]["images_seen"] == {
        "real": 2 * 80, "synthetic": 0, "extra_real": 2 * 35}
    with pytest.raises(ParameterError, match=r"data_processing\.reserve_per_class"):
        _train({"strategy": "real_augmented"}, reserve=patterns(5, 4, seed=3))


def test_seeds_repeat_exactly_and_differ_between_seeds():
    over = {"strategy": "joint", "seeds": [0, 1], "epochs": 1}
    a, ha = _train(over)
    b, hb = _train(over)
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
    assert ha["runs"]["0"]["phases"][0]["loss"] == hb["runs"]["0"]["phases"][0]["loss"]
    key = next(k for k in a if k.startswith("seed0/") and k.endswith("weight"))
    assert not torch.equal(a[key], a[key.replace("seed0/", "seed1/")])


def test_rgb_32px_and_resnet18_stem():
    real = patterns(4, 3, shape=(3, 32, 32), seed=1)
    packed, hist = train_classifier(real, real, names(3), None, PARAMS,
                                    {"strategy": "real_only", "architecture": "resnet18",
                                     "epochs": 1, "batch_size": 6}, 0, "cpu")
    assert hist["image_shape"] == [3, 32, 32]
    assert packed["seed0/net.conv1.weight"].shape == (64, 3, 3, 3)
    model = build_classifier({"architecture": "resnet18"}, 3, 3)
    assert isinstance(model.net.maxpool, torch.nn.Identity) and model.net.conv1.stride == (1, 1)


def test_augment_is_seeded_and_keeps_shape():
    aug = {"random_crop": True, "crop_padding": 3, "horizontal_flip": True, "per_sample": True}
    x = patterns(4, 4, shape=(3, 20, 20))["images"]
    a = build_augment(aug, (20, 20), torch.Generator().manual_seed(0))(x)
    b = build_augment(aug, (20, 20), torch.Generator().manual_seed(0))(x)
    assert a.dtype == torch.uint8 and a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, x)
    crop = build_augment(dict(aug, horizontal_flip=False), (20, 20),
                         torch.Generator().manual_seed(1))(x)
    off = torch.randint(0, 7, (2, x.shape[0]), generator=torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3))
    ref = torch.stack([padded[i, :, r:r + 20, c:c + 20] for i, (r, c) in enumerate(off.T)])
    assert torch.equal(crop, ref)
    batch_level = build_augment(dict(aug, per_sample=False), (20, 20))(x)
    assert batch_level.shape == x.shape and batch_level.dtype == torch.uint8


@pytest.mark.parametrize(("over", "key"), [
    ({"architecture": "vgg"}, "training.architecture"),
    ({"strategy": "mixup"}, "training.strategy"),
    ({"synthetic_fraction": 1.5}, "training.synthetic_fraction"),
    ({"synthetic_fraction": -0.1}, "training.synthetic_fraction"),
    ({"optimizer": "lamb"}, "training.optimizer"),
    ({"lr_schedule": "poly"}, "training.lr_schedule"),
    ({"mix": "interleave"}, "training.mix"),
    ({"seeds": []}, "training.seeds"),
    ({"epochs": -1}, "training.epochs"),
    ({"pretrain": {"lr": 0}}, "training.pretrain.lr"),
    ({"normalize": {"mean": [0.5, 0.5], "std": [0.5, 0.5]}}, "training.normalize.mean"),
])
def test_bad_params_name_the_key(over, key):
    with pytest.raises(ParameterError, match=key.replace(".", r"\.")):
        _train(dict(over, epochs=over.get("epochs", 1)))


@pytest.mark.parametrize("strategy", ["joint", "sequential", "real_augmented"])
def test_empty_synthetic_set_fails_for_strategies_that_need_it(strategy):
    empty = {"images": torch.zeros((0, 1, 16, 16), dtype=torch.uint8),
             "labels": torch.zeros(0, dtype=torch.int64)}
    with pytest.raises(ParameterError, match=r"training\.strategy.*synthetic_kept is empty"):
        _train({"strategy": strategy, "epochs": 1}, synthetic=empty)
