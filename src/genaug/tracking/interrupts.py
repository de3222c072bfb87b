"""Honest interrupts: Ctrl-C (SIGINT) and SIGTERM end a run's MLflow runs as KILLED.

Without this, Kedro 1.7's `KedroSession.run` calls `on_pipeline_error` for `Exception` only, so
a `KeyboardInterrupt` passes kedro-mlflow by and MLflow's `atexit` handler ends the parent run
FINISHED; SIGTERM (`scancel`, a walltime) kills the process before any Python code runs and
leaves the run RUNNING for ever.

Mechanism (`InterruptsHook`):

* `before_pipeline_run` (main thread only: Python delivers signals there) installs one handler
  for both signals. It does no MLflow work itself: it runs between two bytecodes of the main
  thread, which may be inside the MLflow store (SQLAlchemy sessions, pool locks) or a save, and
  re-entering those can deadlock. It raises `RunInterrupted`, a `KeyboardInterrupt`: the node
  stops the way Ctrl-C stops it (its `finally` blocks run; `except Exception` in Kedro, in the
  hooks and in nodes lets it through, so `on_pipeline_error` is not called and nothing is marked
  FAILED), the stack unwinds (the Dask runner closes its client and local cluster on the way).
* The runs are ended where control comes back (`end_interrupted_runs`, once): `kedro run`
  (`genaug.cli`) ends them and exits with 128 + the signal (130, 143); any other process ends
  them at exit, in an `atexit` handler registered after MLflow's, so it runs before MLflow's
  would end them FINISHED; a notebook ends them when its next Kedro session starts, before
  kedro-mlflow looks for an active run to reuse. Ended as KILLED: the runs active in this thread
  (kedro-mlflow's parent) and every RUNNING child of them (the arms' runs, made with
  `MlflowClient`). A run that was active before the pipeline started is the caller's and, as
  kedro-mlflow does on an error, is left open; its children are ended.
* No save is cut: a signal that arrives while a node's outputs are being saved (from Kedro's
  `before_dataset_saved` of the first to `after_dataset_saved` of the last) is held until they
  are all saved, then raised. kedro-datasets' file datasets write in place, so a cut save would
  leave a partial file that the next load or `--only-missing-outputs` takes for the latest
  version, and a node whose outputs were saved in part looks done to the fingerprint store.
  Datasets whose class sets `interrupt_safe = True` stage and rename their files (the sharded
  pool, whose one save runs the whole generation) and are cut at once. Not held: the moment
  between a node's return and its first save (its `after_node_run` hooks, e.g. an arm's MLflow
  logging). A signal there leaves the node's outputs unsaved although `StaleOutputsHook` has
  already recorded their fingerprints, so if an older version of one exists (made with other
  parameters), `--only-missing-outputs` reuses it. Under the Dask runner the driver holds only
  its own saves: workers save in other processes (docs/tracking.md).
* One shot: the first signal puts the previous handlers back, so a second one acts as it would
  without the hook (Ctrl-C raises at once, SIGTERM terminates): the way out when stopping hangs,
  at the price of runs left RUNNING. `after_pipeline_run` and `on_pipeline_error` restore them
  too.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
from dataclasses import dataclass, field
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.pipeline.node import Node
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)
KILLED = RunStatus.to_string(RunStatus.KILLED)


class RunInterrupted(KeyboardInterrupt):
    """A pipeline run stopped by a signal; `exit_status` is the shell's 128 + its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

    def __reduce__(self) -> tuple[type, tuple[int]]:  # pickles (to a parent process) by signal
        return type(self), (self.signum,)


@dataclass
class _State:
    """The process's one interrupt bookkeeping (signals are process-wide)."""

    previous: dict[int, Any] = field(default_factory=dict)  # handlers to put back
    signum: int | None = None  # the signal received, until its runs are ended
    raised: bool = False  # RunInterrupted raised for it
    saving: dict[str, set[str]] = field(default_factory=dict)  # node -> outputs left to save
    callers_run: str | None = None  # a run active before the pipeline started
    catalog: Any = None


_STATE = _State()


def _on_signal(signum: int, frame: Any) -> None:
    """Stop the run: raise in the main thread now, or once the outputs being saved are saved."""
    _restore_handlers()
    _STATE.signum = signum
    if not _STATE.saving:
        _STATE.raised = True
        raise RunInterrupted(signum)


def _restore_handlers() -> None:
    for signum, handler in _STATE.previous.items():
        signal.signal(signum, handler)
    _STATE.previous.clear()


def _raise_held() -> None:
    """Raise a signal held back during saves, once no node's outputs are being saved."""
    if _STATE.signum is not None and not _STATE.raised and not _STATE.saving:
        _STATE.raised = True
        raise RunInterrupted(_STATE.signum)


def end_interrupted_runs() -> int | None:
    """End the interrupted pipeline's MLflow runs as KILLED (once); the signal, or None."""
    signum, _STATE.signum, _STATE.raised = _STATE.signum, None, False
    if signum is None:
        return None
    parents: list[Any] = []
    try:
        while (run := mlflow.active_run()) is not None \
                and run.info.run_id != _STATE.callers_run:
            parents.append(run.info)
            mlflow.end_run(KILLED)
        if _STATE.callers_run is not None:
            parents.append(mlflow.get_run(_STATE.callers_run).info)
        children = _end_running_children(parents)
    except (MlflowException, OSError) as exc:  # the store is gone: say so, still stop
        logger.warning("MLflow: could not end the interrupted runs: %s", exc)
        return signum
    ended = [p.run_id for p in parents if p.run_id != _STATE.callers_run] + children
    logger.warning("Interrupted by %s: MLflow run(s) %s ended as KILLED",
                   signal.Signals(signum).name, ", ".join(ended) or "(none)")
    return signum


def _end_running_children(parents: list[Any]) -> list[str]:
    """End every RUNNING child of the given runs as KILLED; their ids."""
    if not parents:
        return []  # without a run, no store is touched (a client may create one)
    client = MlflowClient()
    children = [child.info.run_id for parent in parents for child in client.search_runs(
        [parent.experiment_id], f"tags.{MLFLOW_PARENT_RUN_ID} = '{parent.run_id}' "
        "and attributes.status = 'RUNNING'", max_results=10_000)]
    for run_id in children:
        client.set_terminated(run_id, KILLED)
    return children


atexit.register(end_interrupted_runs)  # re-registered after MLflow's when a pipeline starts


class InterruptsHook:
    """SIGINT/SIGTERM during a pipeline run: no save cut, every MLflow run ended KILLED."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow decides to reuse an active run
    def after_context_created(self) -> None:
        """End the runs of a pipeline interrupted earlier in this process (a notebook), and
        give back handlers a run that failed before its first node left installed."""
        end_interrupted_runs()
        _restore_handlers()

    @hook_impl(tryfirst=True)  # before kedro-mlflow starts the parent run
    def before_pipeline_run(self, catalog: Any) -> None:
        """Catch SIGINT and SIGTERM for the pipeline run (main thread only)."""
        end_interrupted_runs()
        _restore_handlers()
        _STATE.saving.clear()
        run = mlflow.active_run()
        _STATE.callers_run = run.info.run_id if run is not None else None
        _STATE.catalog = catalog
        # MLflow registers its exit handler (end the active run FINISHED) on import; ours runs
        # first only if registered after it (atexit runs handlers last-in, first-out).
        atexit.unregister(end_interrupted_runs)
        atexit.register(end_interrupted_runs)
        if threading.current_thread() is not threading.main_thread():
            logger.info("Pipeline run outside the main thread: SIGINT/SIGTERM not caught")
            return
        for signum in SIGNALS:  # one ignored when the process started stays ignored
            if signal.getsignal(signum) is not signal.SIG_IGN:  # (`kedro run &` in a script)
                _STATE.previous[signum] = signal.signal(signum, _on_signal)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """Hold signals from a node's first save to its last (none for staged datasets)."""
        dataset = _STATE.catalog.get(dataset_name) if _STATE.catalog is not None else None
        if not getattr(dataset, "interrupt_safe", False):
            _STATE.saving.setdefault(node.name, set(node.outputs))

    @hook_impl(trylast=True)  # after every other hook has seen the complete save
    def after_dataset_saved(self, dataset_name: str, node: Node) -> None:
        """The node's last output is saved: raise a signal that arrived meanwhile."""
        left = _STATE.saving.get(node.name)
        if left is not None:
            left.discard(dataset_name)
            if not left:
                del _STATE.saving[node.name]
        _raise_held()

    @hook_impl(trylast=True)
    def after_node_run(self, node: Node) -> None:
        """Dask's driver calls this after the node's saves (Kedro's `Task` before them)."""
        if node.name in _STATE.saving:
            del _STATE.saving[node.name]
            _raise_held()

    @hook_impl(trylast=True)  # after kedro-mlflow has ended the parent run
    def after_pipeline_run(self) -> None:
        """Put the previous handlers back; a signal held by the last save still stops."""
        self._finish()
        _raise_held()

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        """Put the previous handlers back (kedro-mlflow has ended the runs FAILED)."""
        self._finish()

    @staticmethod
    def _finish() -> None:
        _restore_handlers()
        _STATE.saving.clear()
        _STATE.catalog = None
