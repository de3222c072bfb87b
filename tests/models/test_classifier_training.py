"""The classifier engine: batch samplers, augmentation, the small-image ResNet-18 stem."""

from __future__ import annotations

import pytest
import torch

from genaug.models.batches import MixedBatchSampler, ShuffledBatchSampler, build_augment
from genaug.models.classifier_training import (
    init_classifier,
    phase_batches,
    seed_generators,
)
from genaug.models.classifiers import build_classifier, num_classes_of
from genaug.schemas.training import AugmentParams
from tests.support import patterns, training_params


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


def test_shuffled_batch_sampler_is_one_seeded_pass():
    sampler = ShuffledBatchSampler(10, 4, torch.Generator().manual_seed(0))
    batches = list(sampler)
    assert len(sampler) == 3 and [len(b) for b in batches] == [4, 4, 2]
    assert sorted(i for b in batches for i in b) == list(range(10))
    again = list(ShuffledBatchSampler(10, 4, torch.Generator().manual_seed(0)))
    assert batches == again and list(sampler) != batches  # next epoch reshuffles


def _real_order(strategy: str, n_other: int, steps: int) -> list[int]:
    """The real indices seed 7 visits in its first `steps` batches of an arm's real phase."""
    params = training_params({"strategy": strategy, "batch_size": 8, "synthetic_fraction": 0.5})
    pools = ("real",) if strategy == "real_only" else ("real", "synthetic")
    sampler, _ = phase_batches(params, pools, 20, n_other, seed_generators(7))
    batches = (b for _ in range(10) for b in sampler)
    return [i for _, b in zip(range(steps), batches, strict=False) for i in b if i < 20]


def test_arms_share_a_seeds_initial_weights_and_real_order():
    # Paired design: whatever the other pool's size, seed s starts from the same weights and
    # walks the real images in the same sequence of permutations in every arm.
    joint = {n: _real_order("joint", n, 30) for n in (13, 27, 40)}
    assert joint[13] == joint[27] == joint[40]
    assert _real_order("real_only", 0, 18) == joint[13]  # 6 passes: 3 batches (8, 8, 4) each
    assert sorted(joint[13][:20]) == list(range(20))  # one permutation per pass
    params = training_params({})
    a, b = (init_classifier(params, 1, 3, 7, torch.device("cpu")).state_dict() for _ in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = init_classifier(params, 1, 3, 8, torch.device("cpu")).state_dict()
    assert not all(torch.equal(a[k], other[k]) for k in a)


def test_augment_is_seeded_and_keeps_shape():
    aug = AugmentParams(random_crop=True, crop_padding=3, horizontal_flip=True, per_sample=True)
    x = patterns(4, 4, shape=(3, 20, 20))["images"]
    a = build_augment(aug, (20, 20), torch.Generator().manual_seed(0))(x)
    b = build_augment(aug, (20, 20), torch.Generator().manual_seed(0))(x)
    assert a.dtype == torch.uint8 and a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, x)
    crop = build_augment(aug.model_copy(update={"horizontal_flip": False}), (20, 20),
                         torch.Generator().manual_seed(1))(x)
    off = torch.randint(0, 7, (2, x.shape[0]), generator=torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (3, 3, 3, 3))
    ref = torch.stack([padded[i, :, r:r + 20, c:c + 20] for i, (r, c) in enumerate(off.T)])
    assert torch.equal(crop, ref)
    batch_level = build_augment(aug.model_copy(update={"per_sample": False}), (20, 20))(x)
    assert batch_level.shape == x.shape and batch_level.dtype == torch.uint8
    assert build_augment(AugmentParams(), (20, 20)) is None  # both off: no augmentation


def test_resnet18_has_a_small_image_stem():
    model = build_classifier(training_params({"architecture": "resnet18"}), 3, 3)
    assert isinstance(model.net.maxpool, torch.nn.Identity) and model.net.conv1.stride == (1, 1)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_fast_cnn_follows_its_parameters():
    params = training_params({"fast_cnn": {"widths": [4, 8], "convs_per_stage": 3}})
    model = build_classifier(params, 1, 5)
    convs = [m for m in model.body if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 4, 4, 8, 8, 8]
    assert model.num_features == 8 and model.head.out_features == 5


def test_class_names_give_the_class_count():
    assert num_classes_of(["a", "b", "c"]) == 3
