"""benchmarks/gpu_check.py runs end to end without a GPU: the same code at tiny size on CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO


@pytest.mark.slow
def test_the_gpu_check_runs_at_tiny_size_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu_tiny.md"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--tiny", "--out", str(out)],
                   cwd=REPO, env=env, check=True, capture_output=True, timeout=1800)
    report = out.read_text()
    assert "on cpu" in report
    for row in ("(a) default ablation_threshold", "(b) gpu preset on an image folder",
                "classifier training, bf16 + channels_last + compile",
                "generator training, bf16 + channels_last", "pool sampling, bf16",
                "CLIP training, bf16"):
        assert f"| {row} |" in report
    assert report.strip().splitlines()[-1].startswith("SUMMARY: cpu tiny:")
