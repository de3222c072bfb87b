"""Shared helpers for the benchmark scripts: a scratch project copy, per-node timing and typed
parameter blocks."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from kedro.framework.hooks import hook_impl

from genaug.schemas.base import Schema, parse

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
S = TypeVar("S", bound=Schema)


def scratch_project(name: str) -> Path:
    """A fresh copy of conf/ (no conf/local) with the raw data linked, under benchmarks/.work/."""
    root = REPO / "benchmarks" / ".work" / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    for file in ("pyproject.toml", ".telemetry"):
        shutil.copy(REPO / file, root / file)
    (root / "src").mkdir()
    (root / "data").mkdir()
    (root / "data" / "01_raw").symlink_to(REPO / "data" / "01_raw")
    return root


class NodeTimer:
    """Kedro hook that records each node's wall time, from loading its first input to saving
    its last output (the pool node's shards are made while its LazyShards output is saved)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self._start: dict[str, float] = {}
        self._end: dict[str, float] = {}

    def _begin(self, node: Any) -> None:
        self._start.setdefault(node.name, time.perf_counter())

    def _finish(self, node: Any) -> None:
        self._end[node.name] = time.perf_counter()
        self.times[node.name] = self._end[node.name] - self._start[node.name]

    @hook_impl
    def before_dataset_loaded(self, node: Any) -> None:
        self._begin(node)

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        self._begin(node)

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        self._finish(node)

    @hook_impl
    def after_dataset_saved(self, node: Any) -> None:
        self._finish(node)


@contextmanager
def in_dir(path: Path) -> Iterator[None]:
    """Temporarily change the working directory."""
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def load_average() -> str:
    """1-minute load average (another process on the 2 cores slows every figure)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def write_result(name: str, text: str) -> Path:
    """Save a benchmark's Markdown report under benchmarks/results/ and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text(text)
    return path


def typed(schema: type[S], params: Mapping[str, Any], key: str) -> S:
    """`params[key]` as the typed block a node receives (validated as the parameter hook does;
    an error names the dotted key). Benchmarks call it inside their timed regions where the
    node used to validate its own parameters, so they keep timing that work."""
    return parse(schema, params[key], key)
