"""`ParentRun`, what both MLflow hooks share: kedro-mlflow's run of a `kedro run`, a client on
its store, and logging that warns instead of stopping the run."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import mlflow
from kedro.io import DatasetError
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from genaug.tracking.values import StepMetric, now_ms

logger = logging.getLogger(__name__)


class ParentRun:
    """The active kedro-mlflow run of a `kedro run`, found when the pipeline starts; without
    one, the hook does nothing for that pipeline run."""

    def __init__(self) -> None:
        self._client: MlflowClient | None = None
        self._parent: str | None = None
        self._experiment: str | None = None

    def _attach(self) -> None:
        run = mlflow.active_run()
        if run is None:
            self._detach()
            return
        self._client = MlflowClient(mlflow.get_tracking_uri())
        self._parent, self._experiment = run.info.run_id, run.info.experiment_id

    def _detach(self) -> None:
        self._client = self._parent = self._experiment = None

    def _guard(self, what: str, log: Any, *args: Any) -> None:
        """Run one logging step; a store or file failure warns instead of stopping the run."""
        try:
            log(*args)
        except (MlflowException, DatasetError, OSError) as exc:
            logger.warning("MLflow: could not log %s: %s", what, exc, exc_info=True)

    def _log(self, run_id: str, params: Mapping[str, str], metrics: Iterable[StepMetric],
             tags: Mapping[str, str] | None = None) -> None:
        """Log params, step metrics and tags (MLflow's `log_batch` splits them into requests
        its store accepts: 100 params, 1000 metrics at most per request)."""
        assert self._client is not None
        now = now_ms()
        entries = [Metric(key, value, now, step) for key, value, step in metrics]
        items = [Param(key, value) for key, value in sorted(params.items())]
        labels = [RunTag(key, value) for key, value in sorted((tags or {}).items())]
        self._client.log_batch(run_id, metrics=entries, params=items, tags=labels)
