"""Unit tests of the training nodes: strategies, seeds, images seen, data checks, extra real
images of the real-augmentation arms."""

from __future__ import annotations

import pytest
import torch

from genaug.common.validation import ParameterError
from genaug.datasets.seed_store import SeedStoreDataset
from genaug.models.classifier_training import predict
from genaug.models.classifiers import build_classifier, unpack_states
from genaug.pipelines.training.nodes import (
    SeedSlot,
    combine_seeds,
    extra_real_like,
    extra_real_per_class,
    train_classifier,
)
from genaug.schemas.training import TrainingParams
from tests.support import REPO, conf_params, names, patterns, training_params


def _train(over, real=None, synthetic=None, k=4):
    real = patterns(20, k, seed=1) if real is None else real
    synthetic = patterns(10, k, seed=2) if synthetic is None else synthetic
    return train_classifier(real, names(k), synthetic, training_params(over), 7, "cpu")


def _accuracy(packed, history, params: TrainingParams, test, seed=0):
    model = build_classifier(params, test["images"].shape[1], history["num_classes"])
    model.load_state_dict(unpack_states(packed)[seed])
    logits = predict(model, test["images"], params.normalize.stats(), torch.device("cpu"), 64)
    return float((logits.argmax(1) == test["labels"]).float().mean())


def test_real_only_beats_chance_on_separable_patterns():
    over = {"strategy": "real_only", "epochs": 6}
    packed, history = _train(over)
    acc = _accuracy(packed, history, training_params(over), patterns(25, 4, seed=9))
    assert acc > 0.75  # chance is 0.25
    phases = history["runs"]["0"]["phases"]
    assert [p["name"] for p in phases] == ["train"]
    assert phases[0]["images_seen"] == {"real": 6 * 80, "synthetic": 0, "extra_real": 0}
    assert history["n_synthetic"] == 0


def test_fashion_mnist_subset_beats_chance():
    from genaug.datasets import IDXImageDataset
    from genaug.pipelines.data_processing.nodes import make_real_splits
    from genaug.schemas.data_processing import DataProcessingParams

    raw = REPO / "data/01_raw/fashion-mnist"

    def load(split):
        return IDXImageDataset(images_filepath=str(raw / f"{split}-images-idx3-ubyte.gz"),
                               labels_filepath=str(raw / f"{split}-labels-idx1-ubyte.gz")).load()

    dp = conf_params("data_processing")
    dp.update(classes=["T-shirt/top", "Trouser", "Sneaker", "Bag"], train_per_class=20,
              reserve_per_class=0, test_per_class=25)
    train, _reserve, test, classes = make_real_splits(
        load("train"), load("t10k"), DataProcessingParams.model_validate(dp), 3)
    small = {"widths": [16, 32, 32], "convs_per_stage": 1, "dropout": 0.0}
    params = training_params({"strategy": "real_only", "epochs": 15, "fast_cnn": small})
    packed, history = train_classifier(train, classes, None, params, 3, "cpu")
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


def test_joint_ratio_and_concat_images_seen():
    _, hist = _train({"strategy": "joint", "mix": "ratio", "synthetic_fraction": 0.25})
    seen = hist["runs"]["0"]["phases"][0]["images_seen"]
    # batch 16 -> 4 synthetic + 12 real per step; epoch = ceil(80 / 12) = 7 steps; 2 epochs
    assert seen == {"real": 2 * 7 * 12, "synthetic": 2 * 7 * 4, "extra_real": 0}
    _, hist = _train({"strategy": "joint", "mix": "concat"})
    seen = hist["runs"]["0"]["phases"][0]["images_seen"]
    assert seen == {"real": 2 * 80, "synthetic": 2 * 40, "extra_real": 0}


def test_real_augmented_trains_on_the_extra_real_images_it_is_given():
    reserve = patterns(15, 4, seed=3)
    synthetic = patterns(10, 4, seed=2)
    synthetic = {"images": synthetic["images"][5:], "labels": synthetic["labels"][5:]}
    extra = extra_real_like(reserve, synthetic, names(4), 7)
    assert torch.bincount(extra["labels"]).tolist() == torch.bincount(
        synthetic["labels"]).tolist()
    _, hist = _train({"strategy": "real_augmented", "mix": "concat"}, synthetic=extra)
    assert hist["n_extra_real"] == 35 and hist["n_synthetic"] == 0
    assert hist["runs"]["0"]["phases"][0]["images_seen"] == {
        "real": 2 * 80, "synthetic": 0, "extra_real": 2 * 35}
    with pytest.raises(ParameterError, match=r"data_processing\.reserve_per_class"):
        extra_real_like(patterns(5, 4, seed=3), synthetic, names(4), 7)


def test_curve_draws_are_per_class_nested_and_checked_against_the_reserve():
    reserve = patterns(15, 4, seed=3)
    draws = {n: extra_real_per_class(reserve, names(4), training_params(
        {"strategy": "real_augmented", "extra_real_per_class": n}), 7) for n in (2, 5, 15)}
    assert torch.bincount(draws[5]["labels"]).tolist() == [5] * 4
    rows = {n: {tuple(img.flatten().tolist()) for img in d["images"]} for n, d in draws.items()}
    assert rows[2] <= rows[5] <= rows[15]  # a larger draw contains every smaller one
    too_many = training_params({"strategy": "real_augmented", "extra_real_per_class": 16})
    with pytest.raises(ParameterError, match=r"reserve_per_class.*at least 16.*"
                                             r"extra_real_per_class = 16"):
        extra_real_per_class(reserve, names(4), too_many, 7)


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
    params = training_params({"strategy": "real_only", "architecture": "resnet18", "epochs": 1,
                              "batch_size": 6})
    packed, hist = train_classifier(real, names(3), None, params, 0, "cpu")
    assert hist["image_shape"] == [3, 32, 32]
    assert packed["seed0/net.conv1.weight"].shape == (64, 3, 3, 3)
    model = build_classifier(params, 3, 3)
    assert isinstance(model.net.maxpool, torch.nn.Identity) and model.net.conv1.stride == (1, 1)


@pytest.mark.parametrize("strategy", ["joint", "sequential", "real_augmented"])
def test_empty_synthetic_set_fails_for_strategies_that_need_it(strategy):
    empty = {"images": torch.zeros((0, 1, 16, 16), dtype=torch.uint8),
             "labels": torch.zeros(0, dtype=torch.int64)}
    with pytest.raises(ParameterError, match=r"training\.strategy.*synthetic_kept is empty"):
        _train({"strategy": strategy, "epochs": 1}, synthetic=empty)


@pytest.mark.parametrize("class_names", [["only_one"], "class_0,class_1", None])
def test_class_names_must_list_two_classes(class_names):
    with pytest.raises(ParameterError, match="class_names"):
        train_classifier(patterns(2, 4), class_names, None,
                         training_params({"strategy": "real_only"}), 0, "cpu")


def test_seed_slots_combined_equal_one_node_training_every_seed():
    """Seeds split over slots (as Dask tasks) give the same weights and history as one node."""
    over = {"strategy": "real_augmented", "seeds": [5, 0, 2], "epochs": 1}
    params = training_params(over)
    real, synthetic, reserve = patterns(20, 4, seed=1), patterns(10, 4, seed=2), \
        patterns(15, 4, seed=3)
    extra = extra_real_like(reserve, synthetic, names(4), 7)
    whole, history = train_classifier(real, names(4), extra, params, 7, "cpu")
    slots = [SeedSlot(j, 2).train(real, names(4), extra, params, 7, "cpu", {})[:2]
             for j in range(2)]
    assert sorted(slots[1][1]["runs"]) == ["0"]  # slot 1 of 2: the second seed only
    packed, combined = combine_seeds(params, *(w for w, _ in slots), *(h for _, h in slots))
    assert list(packed) == list(whole)
    assert all(torch.equal(packed[key], whole[key]) for key in whole)
    for run in (*combined["runs"].values(), *history["runs"].values()):  # timings differ
        run.pop("seconds")
        for phase in run["phases"]:
            phase.pop("seconds")
    assert combined == history
    with pytest.raises(ValueError, match="trained seeds"):
        combine_seeds(params, slots[0][0], slots[0][1])


def test_a_slot_beyond_the_seeds_trains_nothing():
    params = training_params({"strategy": "real_only", "seeds": [0]})
    packed, history, new = SeedSlot(2, 3).train(patterns(20, 4, seed=1), names(4), None,
                                                params, 7, "cpu", {})
    assert packed == {} and history["runs"] == {} and new == {}


def test_a_slot_reuses_stored_seeds_and_trains_only_the_others(tmp_path):
    """A seed whose key is in the store is taken from it; weights equal a fresh training."""
    store = SeedStoreDataset(str(tmp_path / "store"))
    real = patterns(20, 4, seed=1)
    one = training_params({"strategy": "real_only", "seeds": [0], "epochs": 1})
    first, _, new = SeedSlot(0, 1).train(real, names(4), None, one, 7, "cpu", store.load())
    store.save(new)
    three = training_params({"strategy": "real_only", "seeds": [0, 1, 2], "epochs": 1})
    packed, history, new = SeedSlot(0, 1).train(real, names(4), None, three, 7, "cpu",
                                                store.load())
    assert history["runs"]["0"]["reused"] and not history["runs"]["1"].get("reused")
    assert len(new) == 2 and len(store.load()) == 1  # seeds 1 and 2 are new entries
    fresh, _ = train_classifier(real, names(4), None, three, 7, "cpu")
    assert list(packed) == list(fresh)
    assert all(torch.equal(packed[key], fresh[key]) for key in fresh)
    assert all(torch.equal(first[key], fresh[key]) for key in first)
    other = training_params({"strategy": "real_only", "seeds": [0], "epochs": 2})
    _, history, _ = SeedSlot(0, 1).train(real, names(4), None, other, 7, "cpu", store.load())
    assert not history["runs"]["0"].get("reused")  # other settings: a different key
