"""Closed-set objectives (epsilon, v-prediction + min-SNR, EDM): each trains and samples, the
choice is stored with the weights, and a generator stored before the choice existed still
samples exactly as it did."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from genaug.common.bundles import to_float
from genaug.common.threads import torch_threads
from genaug.common.validation import ParameterError
from genaug.models import diffusion as D
from genaug.models.diffusion_objectives import build_objective
from genaug.models.diffusion_sampling import PoolSampler
from genaug.models.diffusion_training import train_closed_set
from genaug.schemas.base import deep_merge, parse
from genaug.schemas.synthesis import SynthesisParams
from tests.support import REPO, conf_params

OLD_CHECKPOINT = REPO / "tests" / "models" / "data" / "ddpm_epsilon_v1.safetensors"
CPU = torch.device("cpu")
PATHS = [("epsilon", None, "dpmsolver++"), ("epsilon", 5.0, "ddim"),
         ("v_prediction", 5.0, "dpmsolver++"), ("v_prediction", None, "ddpm"),
         ("edm", None, "edm_euler"), ("edm", None, "edm_dpmsolver++")]


def _test_params(**train: Any) -> SynthesisParams:
    """conf/test's synthesis block (merged over conf/base) with train/sampling keys replaced;
    the objective is plain DDPM epsilon unless `train` names another."""
    scheduler = train.pop("scheduler", None)
    train = {"prediction": "epsilon", "snr_gamma": None, **train}
    over: dict[str, Any] = {"train": train, "num_threads": 1}
    if scheduler is not None:
        over["sampling"] = {"scheduler": scheduler}
    return parse(SynthesisParams, deep_merge(conf_params("synthesis"), over), "synthesis")


def _bars(n: int, k: int, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-dependent vertical bars (learnable structure) as uint8 images."""
    labels = torch.arange(n) % k
    images = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    for i, y in enumerate(labels.tolist()):
        images[i, 0, :, 4 * y:4 * y + 4] = 255
    return images, labels


@pytest.mark.parametrize(("prediction", "snr_gamma", "scheduler"), PATHS)
def test_each_objective_trains_and_samples_on_test_sizes(prediction, snr_gamma, scheduler):
    """conf/test sizes: training gives finite losses, the meta records the objective, and the
    pool sampler makes uint8 images of the data's shape with the matching scheduler."""
    params = _test_params(prediction=prediction, snr_gamma=snr_gamma, scheduler=scheduler)
    images, labels = _bars(24, 3, 28)
    names = ["a", "b", "c"]
    generator = train_closed_set(images, labels, names, params, 3, CPU)
    meta = D.decode_meta(generator)
    assert meta["prediction"] == prediction
    history = generator[D.LOSS_KEY]
    assert history.numel() == params.train.steps and torch.isfinite(history).all()
    shard = PoolSampler(generator, params, 3, names, (1, 28, 28), 4, CPU).shard(0)
    assert shard["images"].shape == (12, 1, 28, 28) and shard["images"].dtype == torch.uint8
    assert shard["images"].float().std() > 0  # not a constant image


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction", "edm"])
def test_each_objective_lowers_its_loss_on_a_fixed_batch(prediction):
    """A few optimiser steps lower the objective's own loss at fixed noise and noise levels."""
    train = _test_params(prediction=prediction,
                         scheduler="edm_euler" if prediction == "edm" else None).train
    objective = build_objective(train)
    torch.manual_seed(0)
    unet = D.build_unet(3, 1, 16, [8, 16], 1, 4)
    images, labels = _bars(24, 3)
    x0 = to_float(images)
    g = torch.Generator().manual_seed(123)
    noise = torch.randn(x0.shape, generator=g)
    levels = objective.draw_levels(x0.shape[0], g)

    def loss() -> float:
        with torch.no_grad():
            return float(objective.loss(unet, x0, labels, noise, levels))

    before = loss()
    with torch_threads(1):
        _, history = D.train_unet(
            unet, objective, x0, labels, num_classes=3, steps=30, batch_size=16, lr=3e-3,
            warmup_steps=2, weight_decay=0.0, ema_decay=0.9, label_dropout=0.1, hflip=False,
            generator=torch.Generator().manual_seed(0), device=CPU, log_every=30)
    assert len(history) == 30
    assert loss() < 0.8 * before, (prediction, before, loss())


def test_min_snr_weighting_is_plain_mse_when_gamma_exceeds_every_snr():
    """min(snr, γ)/snr = 1 for every timestep when γ is above the largest SNR; a small γ
    down-weights the low-noise timesteps (so the loss changes)."""
    torch.manual_seed(0)
    unet = D.build_unet(3, 1, 16, [8, 16], 1, 4)
    x0 = to_float(_bars(8, 3)[0])
    labels = torch.arange(8) % 3
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x0.shape, generator=g)
    plain = build_objective(_test_params(snr_gamma=None).train)
    levels = plain.draw_levels(8, g)
    huge = build_objective(_test_params(snr_gamma=1e12).train)
    small = build_objective(_test_params(snr_gamma=0.5).train)
    with torch.no_grad():
        reference = float(plain.loss(unet, x0, labels, noise, levels))
        assert float(huge.loss(unet, x0, labels, noise, levels)) == pytest.approx(reference,
                                                                                   rel=1e-5)
        assert float(small.loss(unet, x0, labels, noise, levels)) < reference


def test_edm_denoiser_is_the_identity_at_tiny_noise():
    """EDM's preconditioning: at σ → 0 the skip path dominates, so D(x; σ) ≈ x whatever the
    network outputs (the property that makes its loss well-scaled across noise levels)."""
    objective = build_objective(_test_params(prediction="edm", scheduler="edm_euler").train)
    x = torch.rand(2, 1, 4, 4) * 2 - 1
    out = objective.scheduler.precondition_outputs(x, torch.randn_like(x), torch.tensor(1e-4))
    assert torch.allclose(out, x, atol=1e-3)


def test_ddpm_epsilon_checkpoint_from_before_the_objectives_samples_unchanged():
    """A generator written by the pre-objective code (no `prediction` in its meta; file made
    with that code) rebuilds and samples exactly the images that code sampled from it."""
    state = load_file(OLD_CHECKPOINT)
    expected = {key.removeprefix("expected."): state.pop(key)
                for key in [k for k in state if k.startswith("expected.")]}
    noise = expected.pop("noise")
    unet, meta = D.unpack_unet(state)
    assert "prediction" not in meta
    with torch_threads(1):
        for name, images in expected.items():
            scheduler = D.build_sampling_scheduler(name, meta["scheduler_config"],
                                                   pixel_space=True)
            x = D.sample_unet(unet, scheduler, torch.tensor([0, 1, 0, 1]), noise, steps=4,
                              guidance_scale=2.0, null_class=meta["null_class"], device=CPU)
            torch.testing.assert_close(x, images, atol=1e-5, rtol=0)
    params = _test_params()
    shard = PoolSampler(state, params, 0, ["a", "b"], (1, 6, 6), 2, CPU).shard(0)
    assert shard["images"].shape == (4, 1, 6, 6)
    with pytest.raises(ParameterError, match="synthesis.sampling.scheduler"):
        PoolSampler(state, _test_params(prediction="edm", scheduler="edm_euler"), 0,
                    ["a", "b"], (1, 6, 6), 2, CPU)
