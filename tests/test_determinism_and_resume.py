"""Identical results from identical runs, and a killed pool generation resumes to the same pool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.support import KedroProject, make_project

POOL_PARAMS = {"synthesis": {"pool": {"multiple_of_real": 2, "shard_size": 2},
                             "sampling": {"steps": 10}}}
POOL_CLI = ("synthesis.pool.multiple_of_real=2,synthesis.pool.shard_size=2,"
            "synthesis.sampling.steps=10")


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _metrics(project: KedroProject, arm: str) -> dict:
    folder = project.data / "08_reporting" / arm / "metrics.json"
    (version,) = list(folder.iterdir())
    return json.loads((version / "metrics.json").read_text())


def test_same_configuration_twice_gives_identical_results(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    runs = []
    for name in ("first", "second"):
        project = make_project(tmp_path / name)
        monkeypatch.chdir(project.root)
        project.run("ablation_threshold")
        catalog = project.catalog()
        runs.append({
            "bundles": {n: catalog.load(n) for n in
                        ("real_train", "real_test", "synthetic_pool", "drop_20.synthetic_kept")},
            "tensors": {n: catalog.load(n) for n in
                        ("generator", "clip_model", "synthetic_scores", "evaluator",
                         "drop_20.classifier")},
            "metrics": {arm: _metrics(project, arm)
                        for arm in ("baseline", "drop_10", "drop_20", "drop_30")},
        })
    first, second = runs
    for group in ("bundles", "tensors"):
        for name in first[group]:
            assert _equal(first[group][name], second[group][name]), name
    assert first["metrics"] == second["metrics"]


def _kedro(project: KedroProject, *args: str) -> subprocess.Popen:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([str(Path(sys.executable).parent / "kedro"), "run", *args],
                            cwd=project.root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def test_killed_pool_generation_leaves_no_version_and_resumes_identically(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = make_project(tmp_path / "reference")
    monkeypatch.chdir(reference.root)
    reference.run("data_processing")
    reference.run("synthesis", params=POOL_PARAMS)
    expected = reference.load("synthetic_pool")

    project = make_project(tmp_path / "interrupted")
    monkeypatch.chdir(project.root)
    project.run("data_processing")
    staging = project.data / "05_model_input/synthetic_pool.staging"
    process = _kedro(project, "--pipeline", "synthesis", "--env", "test", "--params", POOL_CLI)
    deadline = time.monotonic() + 120
    while len(list(staging.glob("*/shard_*.safetensors"))) < 3:
        assert process.poll() is None, f"run ended before it could be killed: {process.stderr}"
        assert time.monotonic() < deadline, "no shard appeared within 120 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    staged = sorted(staging.glob("*/shard_*.safetensors"))
    assert len(staged) >= 3
    pool_dir = project.data / "05_model_input/synthetic_pool"
    assert not pool_dir.exists() or not any(pool_dir.iterdir())
    assert not project.catalog().exists("synthetic_pool")

    resumed_at = time.time()
    rerun = _kedro(project, "--pipeline", "synthesis", "--env", "test", "--params", POOL_CLI)
    assert rerun.wait(timeout=600) == 0, rerun.stderr.read()[-3000:]
    assert _equal(project.load("synthetic_pool"), expected)
    (version,) = list(pool_dir.iterdir())
    first_shard = next((version / "synthetic_pool").glob("shard_00000.safetensors"))
    assert first_shard.stat().st_mtime < resumed_at  # reused from the killed run, not redone
