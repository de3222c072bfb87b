"""Project hooks: a project-relative MLflow store, effective parameters in MLflow, missing inputs
caught before the first node, honest reruns."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node

from genaug.datasets.seed_store import SeedStoreDataset
from genaug.fingerprints import parameter_view
from genaug.preflight import check_raw_images, check_saved_inputs
from genaug.reruns import FingerprintStore, Stale, make_plan, output_records
from genaug.schemas.base import Schema

logger = logging.getLogger(__name__)

# The rerun fingerprint store, relative to the environment's data root (see `data_root`).
FINGERPRINTS = Path("09_tracking") / "output_fingerprints.json"
DEFAULT_DATA_ROOT = "data"
_SQLITE = "sqlite:///"


def data_root(context: Any) -> Path:
    """The environment's output folder: `data_root` of conf/<env>/globals.yml, in the project."""
    root = (context.config_loader["globals"] or {}).get("data_root", DEFAULT_DATA_ROOT)
    return Path(context.project_path) / str(root)


def fingerprint_path(context: Any) -> Path:
    """Where the environment's rerun fingerprints are stored."""
    return data_root(context) / FINGERPRINTS


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


class EffectiveParamsHook:
    """Log every typed parameter block a run reads to MLflow, flattened (`drop_10.training.lr`).

    Parameters reach nodes as schema objects, which kedro-mlflow logs as one (truncated)
    string per block; this logs each arm's effective values key by key so runs can be
    compared on them.
    """

    @hook_impl(trylast=True)  # after kedro-mlflow has started the run
    def before_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        """Log the flattened blocks of the pipeline's `params:` inputs to the active run."""
        if mlflow.active_run() is None:
            return
        flat: dict[str, Any] = {}
        for name in sorted(pipeline.inputs()):
            value = catalog.load(name) if name.startswith("params:") else None
            if isinstance(value, Schema):
                prefix = name.removeprefix("params:")
                flat.update({f"{prefix}.{key}": item
                             for key, item in parameter_view(value.to_dict()).items()})
        # One call: MLflow's client splits a batch into requests of at most 100 params itself.
        mlflow.log_params(dict(sorted(flat.items())))


class MissingInputsHook:
    """Fail before the first node when a saved input of the run has never been produced, or a
    raw input is missing or has images of another shape than `data_processing.image_shape`.

    Runs first among `before_pipeline_run` hooks, so a run that cannot start leaves nothing
    behind (no MLflow run, no fingerprints).
    """

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: Any) -> None:
        """Raise `MissingInputError` (naming datasets and producer) or a raw-data error."""
        producers = dict(pipelines.items())
        check_saved_inputs(pipeline, catalog, producers, run_params.get("env"))
        if "params:data_processing" in catalog:  # a run of the project (not a bare catalog)
            shape = catalog.load("params:data_processing").image_shape_tuple()
            check_raw_images(pipeline, catalog, producers, shape)


class StaleOutputsHook:
    """Make `--only-missing-outputs` recompute exactly what a change touched, and say why.

    Kedro's `--only-missing-outputs` skips a node whenever its outputs exist, so after a
    parameter or code change it would silently reuse results made the old way. Before the run
    this hook computes every output's record and fingerprint (`genaug.reruns`: the parameter
    keys its node reads, the code it runs, library versions, upstream fingerprints), logs the
    plan (nodes to run with reasons, saved versions reused) and marks stale outputs missing.
    After each node it stores the fingerprints of what was saved. Seed stores are reused only
    by `--only-missing-outputs` runs: any other run reads them as empty and trains every seed.
    """

    def __init__(self) -> None:
        self._store: FingerprintStore | None = None
        self._current: dict[str, dict[str, Any]] = {}
        self._stored: dict[str, dict[str, Any]] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Locate the environment's fingerprint store (under its data root)."""
        self._store = FingerprintStore(fingerprint_path(context))

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline,
                            catalog: Any) -> None:
        """Fingerprint every output; with --only-missing-outputs, log the plan, mark stale."""
        self._stored = self._store.read() if self._store else {}
        self._current = output_records(pipeline, catalog, self._stored)
        if not run_params.get("only_missing_outputs"):
            for name in pipeline.inputs():
                dataset = catalog.get(name)
                if isinstance(dataset, SeedStoreDataset):
                    catalog[name] = dataset.without_reuse()
            return
        plan = make_plan(pipeline, catalog, self._current, self._stored)
        logger.info("%s", plan.describe())
        for name in plan.stale:
            catalog[name] = Stale(catalog.get(name))

    @hook_impl
    def after_node_run(self, node: Node, catalog: Any) -> None:
        """Remember the record each saved output was made with."""
        saved = [name for name in node.outputs if name in self._current and name in catalog
                 and not isinstance(catalog.get(name), MemoryDataset)]
        if saved and self._store is not None:
            self._stored.update({name: self._current[name] for name in saved})
            self._store.write(self._stored)
