"""Shared fixtures: a throwaway copy of the project to run real pipelines on `conf/test`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from kedro.config import OmegaConfigLoader
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from genaug.config import ValidatingConfigLoader
from genaug.schemas.ablations import Declaration

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


class KedroProject:
    """A project copy in a temporary folder: run pipelines and read the catalog there."""

    def __init__(self, root: Path, env: str = "test") -> None:
        self.root = root
        self.env = env

    @property
    def data(self) -> Path:
        """The environment's data root (`data_root` in conf/<env>/globals.yml)."""
        loader = OmegaConfigLoader(str(self.root / "conf"), env=self.env, base_env="base",
                                   default_run_env="local")
        return self.root / loader["globals"]["data_root"]

    def run(self, pipeline: str, params: dict[str, Any] | None = None,
            **run_kwargs: Any) -> dict[str, Any]:
        """Run a registered pipeline in a fresh session and return its free outputs."""
        with KedroSession.create(project_path=self.root, env=self.env,
                                 runtime_params=params) as session:
            return session.run(pipeline_names=[pipeline], **run_kwargs)

    def catalog(self, params: dict[str, Any] | None = None):
        """The project's catalog as a fresh session sees it (latest versions)."""
        with KedroSession.create(project_path=self.root, env=self.env,
                                 runtime_params=params) as session:
            return session.load_context().catalog

    def load(self, name: str) -> Any:
        """Load the latest version of a catalog entry."""
        return self.catalog().load(name)


def make_project(root: Path) -> KedroProject:
    """Copy conf/, pyproject.toml and .telemetry into `root` and link the raw data."""
    root.mkdir(parents=True)
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(REPO / name, root / name)
    (root / "src").mkdir()  # kedro wants the folder; the package is imported from REPO/src
    (root / "data").mkdir()
    (root / "data" / "01_raw").symlink_to(REPO / "data" / "01_raw")
    bootstrap_project(root)
    return KedroProject(root)


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


def declared(env: str = "test") -> Declaration:
    """The ablations conf/<env> declares (the arms the pipelines are built from)."""
    from genaug.settings import CONFIG_LOADER_ARGS

    loader = ValidatingConfigLoader(str(REPO / "conf"), env=None if env == "base" else env,
                                    **CONFIG_LOADER_ARGS)
    return loader.declaration()
