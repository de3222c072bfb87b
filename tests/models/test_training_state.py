"""Resumable training loops: a run stopped after a checkpoint and resumed ends bit-identical."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from genaug.common.bundles import to_float
from genaug.common.threads import torch_threads
from genaug.datasets.checkpoints import CheckpointDataset, TrainingCheckpoints
from genaug.models import diffusion as D
from genaug.models.diffusion_objectives import DDPMObjective
from genaug.models.training_state import LoopCheckpoints, flatten, unflatten
from tests.support import bar_images

CPU = torch.device("cpu")


class Killed(BaseException):
    """Stands for a kill right after a checkpoint was written (not an Exception, like SIGKILL)."""


class KillAfter:
    """A checkpoint store that raises `Killed` once it has saved `saves` checkpoints."""

    def __init__(self, store: TrainingCheckpoints, saves: int) -> None:
        self.store, self.saves = store, saves

    def latest(self):
        """The wrapped store's latest checkpoint."""
        return self.store.latest()

    def save(self, *args, **kwargs) -> None:
        """Save, then stop the training when the count is reached."""
        self.store.save(*args, **kwargs)
        self.saves -= 1
        if self.saves == 0:
            raise Killed


def _store(root: Path) -> TrainingCheckpoints:
    return CheckpointDataset(str(root)).load().training("k" * 64)


def test_flatten_round_trips_an_optimizer_state_with_int_keys_and_tuples() -> None:
    model = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.8, 0.95))
    model(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    tensors: dict[str, torch.Tensor] = {}
    tree = flatten(optimizer.state_dict(), "optimizer", tensors)
    assert "optimizer/state/0/exp_avg" in tensors
    restored = unflatten(tree, tensors)
    original = optimizer.state_dict()
    assert restored["param_groups"] == original["param_groups"]  # betas stays a tuple
    assert list(restored["state"]) == [0, 1]
    assert all(torch.equal(restored["state"][i][k], original["state"][i][k])
               for i in (0, 1) for k in original["state"][i])
    with pytest.raises(TypeError, match="cannot be stored"):
        flatten({"fn": print}, "", {})


def _toy_run(root: Path | None, init_seed: int, kill_after: int = 0
             ) -> tuple[nn.Module, list[float]]:
    """7 steps of SGD with momentum, a step LR schedule and dropout (the global RNG)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    gen = torch.Generator().manual_seed(0)
    store = None if root is None else _store(root)
    loop = LoopCheckpoints(KillAfter(store, kill_after) if kill_after else store, 2, 7,
                           {"model": model, "optimizer": optimizer, "scheduler": scheduler},
                           gen, CPU)
    with loop.global_rng():
        torch.manual_seed(5)  # the dropout stream, restored from a checkpoint on resume
        done, values = loop.resume()
        losses = list(values.get("losses", []))
        for step in range(done, 7):
            loss = model(torch.randn(8, 4, generator=gen)).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            loop.save_if_due(step + 1, {"losses": losses})
    return model, losses


def test_a_loop_with_dropout_resumes_bit_identical_and_leaves_the_global_rng(
        tmp_path: Path) -> None:
    before = torch.get_rng_state()
    reference, expected = _toy_run(None, 1)
    with pytest.raises(Killed):
        _toy_run(tmp_path, 1, kill_after=2)  # stopped after step 4
    resumed, losses = _toy_run(tmp_path, 2)  # another init: the weights come from step 4
    assert losses == expected
    assert all(torch.equal(a, b) for a, b in zip(reference.state_dict().values(),
                                                 resumed.state_dict().values(), strict=True))
    assert torch.equal(before, torch.get_rng_state())  # seeded and restored inside the loop only



def _train_unet(store, init_seed: int, steps: int = 8):
    torch.manual_seed(init_seed)
    unet = D.build_unet(3, 1, 16, [8, 16], 1, 4)
    images, labels = bar_images(12, 3)
    images = to_float(images)
    objective = DDPMObjective(D.build_train_scheduler(100, "squaredcos_cap_v2", "v_prediction"))
    with torch_threads(1):
        ema, history = D.train_unet(
            unet, objective, images, labels, num_classes=3, steps=steps, batch_size=6, lr=3e-3,
            warmup_steps=2, weight_decay=0.01, ema_decay=0.9, label_dropout=0.3, hflip=True,
            generator=torch.Generator().manual_seed(0), device=CPU, log_every=100,
            checkpoints=store, checkpoint_every=3)
    return unet, ema, history


def test_train_unet_stopped_and_resumed_equals_one_uninterrupted_run(tmp_path: Path) -> None:
    """8 steps in one go vs 3 (+ a checkpoint), killed, then resumed to 8: the same weights, EMA
    shadow and loss history, bit for bit; resuming from the final checkpoint trains nothing."""
    unet, ema, history = _train_unet(None, 0)
    with pytest.raises(Killed):
        _train_unet(KillAfter(_store(tmp_path), 1), 0)
    assert [p.name.rpartition("-")[2] for p in tmp_path.iterdir()] == ["000000003.safetensors"]
    resumed, resumed_ema, resumed_history = _train_unet(_store(tmp_path), 1)  # other init
    assert resumed_history == history
    for name, tensor in unet.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    assert resumed_ema.optimization_step == ema.optimization_step == 8
    assert all(torch.equal(a, b) for a, b in zip(ema.shadow_params, resumed_ema.shadow_params,
                                                 strict=True))
    final = sorted(p.name.rpartition("-")[2] for p in tmp_path.iterdir())
    assert final == ["000000006.safetensors", "000000008.safetensors"]  # keep=2, final last
    again, again_ema, again_history = _train_unet(_store(tmp_path), 2)
    assert again_history == history
    assert all(torch.equal(t, again.state_dict()[n]) for n, t in unet.state_dict().items())
    assert all(torch.equal(a, b) for a, b in zip(ema.shadow_params, again_ema.shadow_params,
                                                 strict=True))
