"""Project hooks: a project-relative MLflow store, and honest `--only-missing-outputs`."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractDataset, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node

logger = logging.getLogger(__name__)

FINGERPRINTS = Path("data") / "09_tracking" / "output_fingerprints.json"
_SQLITE = "sqlite:///"


class ProjectMlflowStoreHook:
    """Anchor a relative `sqlite:///` MLflow tracking URI at the project root.

    kedro-mlflow makes relative *file* paths absolute but passes `sqlite:///mlflow.db` on as
    is, so the store would follow the working directory (and a process that opens two
    projects would keep writing to the first one's database).
    """

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: Any) -> None:
        """Rewrite `server.mlflow_tracking_uri` before kedro-mlflow reads mlflow.yml."""
        loader = context.config_loader
        loader.config_patterns.setdefault("mlflow", ["mlflow*", "mlflow*/**", "**/mlflow*"])
        try:
            conf = loader["mlflow"]
        except Exception:  # no mlflow.yml: kedro-mlflow's own defaults apply
            return
        uri = (conf.get("server") or {}).get("mlflow_tracking_uri")
        if isinstance(uri, str) and uri.startswith(_SQLITE) and \
                not Path(uri.removeprefix(_SQLITE)).is_absolute():
            path = (Path(context.project_path) / uri.removeprefix(_SQLITE)).resolve()
            conf["server"]["mlflow_tracking_uri"] = f"{_SQLITE}{path}"
            loader["mlflow"] = conf


class ParameterCheckHook:
    """Validate every parameter the run will use before its first node starts."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        """Fail fast, naming the bad parameter, before any node runs or writes."""
        from genaug.pipelines.parameter_checks import check_pipeline_parameters

        check_pipeline_parameters(pipeline, catalog.load)


class StaleOutputsHook:
    """Record which parameters produced every saved output; treat outputs as missing when
    those parameters (or any upstream of them) have changed.

    Kedro's `--only-missing-outputs` skips a node whenever its outputs exist, so after a
    parameter change it would silently reuse results made with the old value. This hook
    fingerprints each node by its function, its `params:` inputs and the fingerprints of its
    dataset inputs (Merkle-style, so a change flows downstream), stores the fingerprint of each
    output when it is saved, and before a `--only-missing-outputs` run marks outputs whose
    stored fingerprint differs as missing. Code changes are not detected.
    """

    def __init__(self) -> None:
        self._path: Path | None = None
        self._current: dict[str, str] = {}
        self._stored: dict[str, str] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Locate the fingerprint file inside the project."""
        self._path = Path(context.project_path) / FINGERPRINTS

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: Any) -> None:
        """Fingerprint every node; with --only-missing-outputs, mark stale outputs missing."""
        self._stored = self._read()
        self._current = _fingerprints(pipeline, catalog, self._stored)
        if not run_params.get("only_missing_outputs"):
            return
        stale = sorted(
            name for name, fingerprint in self._current.items()
            if name in catalog and not isinstance(catalog.get(name), MemoryDataset)
            and self._stored.get(name) != fingerprint and catalog.exists(name)
        )
        for name in stale:
            catalog[name] = _Stale(catalog.get(name))
        if stale:
            logger.info("Parameters changed since these outputs were saved; recomputing: %s",
                        ", ".join(stale))

    @hook_impl
    def after_node_run(self, node: Node, catalog: Any, outputs: dict[str, Any]) -> None:
        """Remember the fingerprint each saved output was made with."""
        changed = False
        for name in node.outputs:
            if name in self._current and name in catalog and \
                    not isinstance(catalog.get(name), MemoryDataset):
                self._stored[name] = self._current[name]
                changed = True
        if changed:
            self._write()

    def _read(self) -> dict[str, str]:
        if self._path is None or not self._path.exists():
            return {}
        try:
            return json.loads(self._path.read_text())
        except (OSError, json.JSONDecodeError):
            logger.warning("Ignoring unreadable %s; every output counts as stale.", self._path)
            return {}

    def _write(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._stored, indent=1, sort_keys=True))
        os.replace(tmp, self._path)


def _fingerprints(pipeline: Pipeline, catalog: Any, stored: dict[str, str]) -> dict[str, str]:
    """Fingerprint of every dataset a node of the pipeline produces."""
    produced: dict[str, str] = {}
    for node in pipeline.nodes:  # topologically sorted
        parts: list[Any] = [node.name, getattr(node.func, "__qualname__", node.name)]
        for name in node.inputs:
            if name.startswith("params:") or name == "parameters":
                parts.append([name, catalog.load(name)])
            else:
                parts.append([name, produced.get(name) or stored.get(name) or name])
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=repr).encode())
        for output in node.outputs:
            produced[output] = digest.hexdigest()
    return produced


class _Stale(AbstractDataset):
    """A dataset that reports itself missing but still loads and saves normally."""

    def __init__(self, inner: AbstractDataset) -> None:
        self._inner = inner

    def load(self) -> Any:
        return self._inner.load()

    def save(self, data: Any) -> None:
        self._inner.save(data)

    def _exists(self) -> bool:
        return False

    def _describe(self) -> dict[str, Any]:
        return {"stale": True, "dataset": str(self._inner)}
