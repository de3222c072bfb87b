"""Shared fixtures (the helpers they use live in tests/support.py)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from tests.support import KedroProject, make_project

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def kedro_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KedroProject:
    """A fresh project copy in tmp_path, made the working directory for the test."""
    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project.root)
    return project


@pytest.fixture
def make_bundle() -> Callable[..., dict[str, torch.Tensor]]:
    """Build a small random image bundle with a given number of images per class."""

    def _make(per_class: int = 4, num_classes: int = 3, shape: tuple[int, int, int] = (1, 28, 28),
              seed: int = 0) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        n = per_class * num_classes
        images = torch.randint(0, 256, (n, *shape), generator=gen, dtype=torch.uint8)
        labels = torch.arange(num_classes).repeat_interleave(per_class)
        return {"images": images, "labels": labels}

    return _make


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """An empty Hugging Face hub cache in tmp_path; the returned function caches a snapshot.

    HF_HUB_CACHE is set for subprocesses; huggingface_hub read it at import, so its constant
    is patched too. `cache(repo_id, source)` lays out models--org--name/snapshots/<rev> (a copy
    of the `source` folder, or a bare model_index.json) with refs/main naming <rev>.
    """
    import huggingface_hub.constants

    root = tmp_path / "hf_hub_cache"
    root.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(root))

    def _cache(repo_id: str, source: Path | None = None, revision: str = "0" * 40) -> Path:
        repo = root / f"models--{repo_id.replace('/', '--')}"
        snapshot = repo / "snapshots" / revision
        if source is None:
            snapshot.mkdir(parents=True)
            (snapshot / "model_index.json").write_text("{}")
        else:
            shutil.copytree(source, snapshot)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(revision)
        return snapshot

    return _cache
