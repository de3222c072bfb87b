"""Long trainings resume: a killed generator or CLIP training, rerun the same way, continues from
its last checkpoint to the weights an uninterrupted run gives (bit for bit on CPU)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset

from genaug.datasets.checkpoints import CheckpointDataset, CheckpointFolder, TrainingCheckpoints
from genaug.pipelines.filtering.nodes import train_clip
from genaug.pipelines.synthesis import create_pipeline as synthesis_pipeline
from genaug.pipelines.synthesis import nodes as N
from genaug.reruns import output_records
from tests.models.test_training_state import KillAfter, Killed
from tests.support import SYNTHESIS_CLASSES as NAMES
from tests.support import filtering_params, make_project, synthesis_params


class KillingFolder(CheckpointFolder):
    """A checkpoint folder whose trainings stop right after their first checkpoint."""

    def training(self, key: str) -> TrainingCheckpoints:
        """The training's checkpoints, wrapped to stop after one save."""
        return KillAfter(super().training(key), 1)  # type: ignore[return-value]


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def real() -> dict[str, torch.Tensor]:
    """4 classes × 8 images of 1×28×28."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (32, 1, 28, 28), generator=gen, dtype=torch.uint8)
    return {"images": images, "labels": torch.arange(4).repeat_interleave(8)}


def test_the_generator_node_resumes_only_its_own_training(tmp_path: Path, real, caplog) -> None:
    """Killed after step 2 of 6, then rerun: the uninterrupted generator, whatever
    checkpoint_every is; a training with another lr ignores the checkpoint and starts over."""
    params = synthesis_params(**{"num_threads": 1, "train.steps": 6, "train.checkpoint_every": 2})
    plain = synthesis_params(**{"num_threads": 1, "train.steps": 6})
    expected = N.train_generator(real, NAMES, plain, 7, "cpu")
    with pytest.raises(Killed):
        N.train_generator(real, NAMES, params, 7, "cpu", KillingFolder(tmp_path, 2))
    folder = CheckpointDataset(str(tmp_path)).load()
    other = synthesis_params(**{"num_threads": 1, "train.steps": 6, "train.checkpoint_every": 2,
                       "train.lr": 1e-3})
    with caplog.at_level(logging.INFO):
        N.train_generator(real, NAMES, other, 7, "cpu", folder)
        assert "ignoring the checkpoints of 1 other training(s)" in caplog.text
        assert "resuming" not in caplog.text
        caplog.clear()
        resumed = N.train_generator(real, NAMES, params.model_copy(update={
            "train": params.train.model_copy(update={"checkpoint_every": 4})}), 7, "cpu", folder)
        assert "resuming from checkpoint" in caplog.text and "(step 2)" in caplog.text
    assert _equal(resumed, expected)


def test_the_clip_node_resumes_to_the_uninterrupted_model(tmp_path: Path, make_bundle) -> None:
    """Three epochs in one go vs one epoch, killed, and a rerun: the same weights and losses."""
    params = filtering_params({"clip": {"closed_set": {"train": {"epochs": 3}}}})
    real = make_bundle(per_class=4, num_classes=3, seed=1)
    names = ["T-shirt/top", "Trouser", "Sneaker"]
    expected, log = train_clip(real, names, params, 7, "cpu")
    with pytest.raises(Killed):
        train_clip(real, names, params, 7, "cpu", KillingFolder(tmp_path, 2))
    resumed, resumed_log = train_clip(real, names, params, 7, "cpu",
                                      CheckpointDataset(str(tmp_path)).load())
    assert _equal(resumed, expected)
    assert resumed_log["epoch_loss"] == log["epoch_loss"]
    assert (log["resumed_from_epoch"], resumed_log["resumed_from_epoch"]) == (0, 1)


def test_checkpoints_change_no_fingerprint_and_are_never_stale(real) -> None:
    """The checkpoint folder is an input with a constant fingerprint, and checkpoint_every is in
    no output's record (tests/test_reruns.py: changing it reruns nothing)."""
    pipeline = synthesis_pipeline()

    def records(every: int | None) -> dict:
        catalog = DataCatalog({"params:synthesis": MemoryDataset(synthesis_params(**{
            "train.checkpoint_every": every})), "params:seed": MemoryDataset(7),
            "params:device": MemoryDataset("cpu")})
        return output_records(pipeline, catalog, {})

    off, on = records(None), records(50)
    assert off == on
    assert "generator_checkpoint" not in on
    assert on["generator"]["inputs"]["generator_checkpoint"] == "generator_checkpoint"


# ------------------------------------------------------------------ a real kill
STEPS = 150
CLI = (f"synthesis.train.steps={STEPS},synthesis.num_threads=1,"
       "synthesis.train.checkpoint_every=25")


def _kedro(root: Path, log: Path) -> subprocess.Popen:
    """`kedro run` of the generator's training on conf/test, its output in `log`."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "kedro"), "run", "--env", "test", "--pipeline",
             "synthesis", "--nodes", "synthesis.train_generator", "--params", CLI],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)


@pytest.mark.slow  # ~90 s on 2 shared cores: three trainings of 150 steps, two kedro start-ups
def test_a_sigkilled_generator_training_resumes_to_the_uninterrupted_weights(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project.root)
    project.run("data_processing")
    project.run("synthesis", node_names=["synthesis.train_generator"], params={"synthesis": {
        "num_threads": 1, "train": {"steps": STEPS, "checkpoint_every": None}}})
    expected = project.load("generator")
    versions = project.data / "06_models/generator.safetensors"
    checkpoints = project.data / "06_models/checkpoints/generator"
    assert len(list(versions.iterdir())) == 1 and not checkpoints.exists()

    process = _kedro(project.root, tmp_path / "killed.log")
    deadline = time.monotonic() + 300
    while not list(checkpoints.glob("*.safetensors")):
        assert process.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    (left,) = checkpoints.glob("*.safetensors")  # written atomically: complete or absent
    step = int(left.name.removesuffix(".safetensors").rpartition("-")[2])
    assert 0 < step < STEPS
    assert len(list(versions.iterdir())) == 1  # no generator was published

    rerun = _kedro(project.root, tmp_path / "rerun.log")
    assert rerun.wait(timeout=600) == 0, (tmp_path / "rerun.log").read_text()[-3000:]
    assert f"(step {step})" in (tmp_path / "rerun.log").read_text()
    assert len(list(versions.iterdir())) == 2
    assert _equal(project.load("generator"), expected)
    assert not list(checkpoints.iterdir())  # deleted once the generator was saved
