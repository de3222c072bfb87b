"""Honest interrupts (`genaug.tracking.interrupts`): SIGINT and SIGTERM end the MLflow parent
and every open child run as KILLED, exit with 130 or 143, and never leave a half-written version.

The `kedro run` tests run the cheapest slice that opens a parent and a child run on a fresh
project: `ablation_threshold` up to the `real_curve_1` arm's classifier (the real splits, the
arm's extra real images, its seed slots), with enough epochs that seed slot 0 is still training
when the signal comes. The other tests drive the hook in this process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from kedro.io import DataCatalog, Version
from kedro.pipeline import Node
from kedro_datasets.json import JSONDataset
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from genaug.datasets.sharded_bundle import ShardedBundleDataset
from genaug.tracking import InterruptsHook, RunInterrupted, end_interrupted_runs
from tests.support import KedroProject

KEDRO = str(Path(sys.executable).parent / "kedro")
PARENT = "mlflow.parentRunId"
ARM = "real_curve_1"
TO_NODE = f"{ARM}.combine_seeds"
SLOT_0_STARTED = "Running node: train_classifier_seeds_0"
SAVED = ("real_train", "real_reserve", "real_test", "class_names", f"{ARM}.extra_real")
NOT_SAVED = (f"{ARM}.classifier_seeds_0", f"{ARM}.training_history_seeds_0",
             f"{ARM}.classifier")


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow sqlite store, made once: creating its tables takes seconds."""
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def project(kedro_project: KedroProject, empty_store: Path) -> KedroProject:
    """A fresh project copy with an empty MLflow store (conf/base/mlflow.yml: `mlflow.db`)."""
    shutil.copy(empty_store, kedro_project.root / "mlflow.db")
    return kedro_project


def _interrupted_run(project: KedroProject, signum: int) -> tuple[int, str, float]:
    """Start `kedro run`, send `signum` once slot 0 trains; (exit status, output, signal time)."""
    log = project.root / "run.log"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [KEDRO, "run", "--env", "test", "--pipeline", "ablation_threshold", "--to-nodes",
             TO_NODE, "--params", "training.epochs=10000"],  # never reached: stopped before
            cwd=project.root, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while SLOT_0_STARTED not in log.read_text():
            assert process.poll() is None, f"run ended before the signal:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"slot 0 did not start:\n{log.read_text()}"
            time.sleep(0.05)
        sent = time.time()
        process.send_signal(signum)
        status = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return status, log.read_text(), sent


def _runs(project: KedroProject) -> list[Run]:
    client = MlflowClient(f"sqlite:///{project.root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("genaug-test").experiment_id
    return client.search_runs([experiment], max_results=1000)


def _check_killed(project: KedroProject, sent: float) -> None:
    """The parent and the arm's child run KILLED by the signal; nothing left RUNNING."""
    runs = _runs(project)
    (parent,) = [run for run in runs if PARENT not in run.data.tags]
    (child,) = [run for run in runs if PARENT in run.data.tags]
    assert (parent.info.run_name, parent.info.status) == ("ablation_threshold", "KILLED")
    assert (child.info.run_name, child.info.status) == (ARM, "KILLED")
    assert child.data.tags[PARENT] == parent.info.run_id
    for run in (parent, child):
        assert run.info.end_time >= sent * 1000 - 1000  # ended by the signal, not before


def _check_saved_versions(project: KedroProject) -> None:
    """What was saved before the signal loads; the interrupted node saved nothing."""
    catalog = project.catalog()
    for name in SAVED:
        assert catalog.load(name) is not None, name
    for name in NOT_SAVED:
        assert not catalog.exists(name), name
    assert [p for p in project.data.rglob("*") if p.name.endswith(".tmp")] == []


def test_sigterm_ends_parent_and_child_killed_with_status_143(project: KedroProject) -> None:
    status, output, sent = _interrupted_run(project, signal.SIGTERM)
    assert status == 143, output[-3000:]
    assert "Stopped: interrupted by SIGTERM; MLflow runs ended as KILLED." in output
    assert "Aborted!" not in output and "Traceback" not in output  # not click's Ctrl-C path
    _check_killed(project, sent)
    _check_saved_versions(project)


@pytest.mark.slow  # 24-35 s measured on 2 busy cores: the interrupted run, then a rerun
def test_ctrl_c_ends_runs_killed_and_the_rerun_keeps_the_complete_versions(
        project: KedroProject) -> None:
    status, output, sent = _interrupted_run(project, signal.SIGINT)
    assert status == 130, output[-3000:]
    assert "Stopped: interrupted by SIGINT; MLflow runs ended as KILLED." in output
    _check_killed(project, sent)
    _check_saved_versions(project)
    # --only-missing-outputs reuses the versions saved before the signal, makes the rest.
    before = {name: project.catalog()[name].resolve_load_version() for name in SAVED}
    project.run("ablation_threshold", to_nodes=[TO_NODE], only_missing_outputs=True)
    catalog = project.catalog()
    assert {name: catalog[name].resolve_load_version() for name in SAVED} == before
    assert catalog.load(f"{ARM}.classifier")
    statuses = sorted((run.info.run_name, run.info.status) for run in _runs(project))
    assert statuses == [("ablation_threshold", "FINISHED"), ("ablation_threshold", "KILLED"),
                        (ARM, "FINISHED"), (ARM, "KILLED")]


# ------------------------------------------------------------------ the hook in this process
@pytest.fixture
def store(tmp_path: Path, empty_store: Path) -> Iterator[MlflowClient]:
    """A throwaway MLflow store as the tracking URI; no run left active afterwards."""
    previous = mlflow.get_tracking_uri()
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        yield MlflowClient()
    finally:
        while mlflow.active_run():
            mlflow.end_run()
        mlflow.set_tracking_uri(previous)


def _send(signum: int) -> None:
    """Deliver `signum` to this process; the hook's handler must be the one to receive it."""
    assert signal.getsignal(signum) not in (signal.SIG_DFL, signal.default_int_handler)
    os.kill(os.getpid(), signum)
    time.sleep(0.5)  # Python runs the handler at the next bytecode of the main thread


def _saves(*outputs: str) -> Node:
    return Node(lambda: None, None, list(outputs), name="saves")


def test_a_signal_while_a_node_saves_waits_for_its_last_output(tmp_path: Path) -> None:
    catalog = DataCatalog(datasets={
        name: JSONDataset(filepath=str(tmp_path / f"{name}.json"), version=Version(None, None))
        for name in ("big", "small")})
    node = _saves("big", "small")
    previous = signal.getsignal(signal.SIGTERM)
    hook = InterruptsHook()
    hook.before_pipeline_run(catalog)
    data = {str(i): list(range(50)) for i in range(2000)}
    try:
        hook.before_dataset_saved("big", node)
        _send(signal.SIGTERM)  # held: no exception here
        assert signal.getsignal(signal.SIGTERM) == previous  # one shot: a second one is not
        catalog.save("big", data)
        hook.after_dataset_saved("big", node)  # still held: "small" is not saved yet
        hook.before_dataset_saved("small", node)
        catalog.save("small", [1])
        with pytest.raises(RunInterrupted) as stop:
            hook.after_dataset_saved("small", node)
        assert stop.value.exit_status == 143
    finally:
        hook.on_pipeline_error()
        assert end_interrupted_runs() == signal.SIGTERM  # no MLflow run here: nothing to end
    assert catalog.load("big") == data
    assert catalog.load("small") == [1]


def test_a_signal_cuts_a_staged_pool_save_at_once(tmp_path: Path) -> None:
    pool = ShardedBundleDataset(filepath=str(tmp_path / "pool"), version=Version(None, None))
    hook = InterruptsHook()
    hook.before_pipeline_run(DataCatalog(datasets={"pool": pool}))
    try:
        hook.before_dataset_saved("pool", _saves("pool"))  # staged and renamed: not held
        with pytest.raises(RunInterrupted):
            _send(signal.SIGINT)
    finally:
        hook.on_pipeline_error()
        end_interrupted_runs()


def test_a_signal_ignored_when_the_process_started_stays_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as for `kedro run &` in a script
    hook = InterruptsHook()
    try:
        hook.before_pipeline_run(DataCatalog())
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
    finally:
        hook.after_pipeline_run()
        signal.signal(signal.SIGINT, previous)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_an_interrupt_ends_parent_and_open_children_killed_at_the_next_session(
        store: MlflowClient) -> None:
    """A notebook: the KeyboardInterrupt reaches the cell; the next Kedro session ends the runs
    before kedro-mlflow would reuse the stale active run."""
    experiment = store.create_experiment("e")
    callers = mlflow.start_run(experiment_id=experiment)  # opened before the pipeline: kept
    before = signal.getsignal(signal.SIGINT)  # not always Python's default in a test session
    hook = InterruptsHook()
    hook.before_pipeline_run(DataCatalog())
    parent = mlflow.start_run(experiment_id=experiment, nested=True)  # kedro-mlflow's
    ids = parent.info.run_id, callers.info.run_id
    running = store.create_run(experiment, tags={PARENT: ids[0]}).info.run_id
    done = store.create_run(experiment, tags={PARENT: ids[0]}).info.run_id
    store.set_terminated(done, "FINISHED")
    callers_child = store.create_run(experiment, tags={PARENT: ids[1]}).info.run_id
    with pytest.raises(RunInterrupted):
        _send(signal.SIGINT)
    hook.after_context_created()
    status = {run_id: store.get_run(run_id).info.status
              for run_id in (*ids, running, done, callers_child)}
    assert list(status.values()) == ["KILLED", "RUNNING", "KILLED", "FINISHED", "KILLED"]
    assert mlflow.active_run().info.run_id == ids[1]
    assert signal.getsignal(signal.SIGINT) is before
    assert end_interrupted_runs() is None  # once
