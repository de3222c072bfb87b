"""`genaug.runner.DaskRunner` on real Dask clusters (worker processes on 127.0.0.1), conf/test.

Module fixtures: both ablations run once sequentially and once on Dask (ablation_threshold on
the runner's own LocalCluster, ablation_training on a shared 2-worker cluster whose workers
advertise one `GPU` resource each). Both sides use the same torch thread count: CPU float
results are bit-identical only for the same count.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from distributed import Client, LocalCluster
from kedro.framework.session import KedroSession
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro_datasets.json import JSONDataset
from mlflow.tracking import MlflowClient

from genaug.common.threads import torch_threads
from genaug.hooks import FINGERPRINTS
from genaug.models.clip_scoring import pixel_sums
from genaug.pipelines.ablations import create_pipelines
from genaug.pipelines.synthesis.pipeline import POOL_PARTS
from genaug.runner import (
    GPU_TAG,
    DaskRunner,
    InMemoryTransferError,
    local_cluster,
)
from tests.support import KedroProject, declared, make_project

REAL_CURVE_ARMS = declared().curve

THREADS = 2  # torch threads of every run here (sequential in this process, every Dask task)
ABLATIONS = ("ablation_threshold", "ablation_training")
ARMS = ("baseline", "drop_10", "drop_20", "drop_30", "sequential", "real_augmented",
        *REAL_CURVE_ARMS)
PARTS = {f"synthesis.generate_pool_part_{index}" for index in range(POOL_PARTS)}
# A longer pool (32 shards of 2 images, 10 steps) so a worker can be killed mid-part.
LONG_POOL = {"synthesis": {"pool": {"multiple_of_real": 2, "shard_size": 2},
                           "sampling": {"steps": 10}}}
PARENT = "mlflow.parentRunId"


def _run(project: KedroProject, pipeline: str, **kwargs: Any) -> dict[str, Any]:
    """Run in the project's folder with THREADS torch threads (the sequential runner's)."""
    with contextlib.chdir(project.root), torch_threads(THREADS):
        return project.run(pipeline, **kwargs)


def _copy(project: KedroProject, root: Path) -> KedroProject:
    shutil.copytree(project.root, root, symlinks=True)
    return KedroProject(root, project.env)


def _store(project: KedroProject) -> dict[str, str]:
    """Output name -> fingerprint, from the project's rerun fingerprint store."""
    records = json.loads((project.data / FINGERPRINTS).read_text())["outputs"]
    return {name: record["fingerprint"] for name, record in records.items()}


def _timeless(metrics: dict[str, float]) -> dict[str, float]:
    """Metrics without timings (the generator report logs its seconds)."""
    return {key: value for key, value in metrics.items() if "seconds" not in key}


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@dataclass
class Distributed:
    project: KedroProject
    runners: dict[str, DaskRunner]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Two single-threaded worker processes, each advertising one GPU (none is used: cpu)."""
    with local_cluster(2, resources={"GPU": 1}) as local:
        yield local


@pytest.fixture(scope="module")
def sequential(tmp_path_factory: pytest.TempPathFactory) -> KedroProject:
    project = make_project(tmp_path_factory.mktemp("sequential") / "project")
    for pipeline in ABLATIONS:
        _run(project, pipeline)
    return project


@pytest.fixture(scope="module")
def distributed(tmp_path_factory: pytest.TempPathFactory, cluster: LocalCluster) -> Distributed:
    project = make_project(tmp_path_factory.mktemp("distributed") / "project")
    runners = {"ablation_threshold": DaskRunner(n_workers=2, torch_threads=THREADS),
               "ablation_training": DaskRunner(address=cluster.scheduler_address,
                                               n_workers=2, torch_threads=THREADS)}
    for pipeline, runner in runners.items():
        _run(project, pipeline, runner=runner)
    return Distributed(project, runners)


# ------------------------------------------------------------------ same results, same hooks
def test_every_metric_equals_the_sequential_runs(sequential: KedroProject,
                                                 distributed: Distributed) -> None:
    seq, dask = sequential.catalog(), distributed.project.catalog()
    for arm in ARMS:
        assert dask.load(f"{arm}.metrics") == seq.load(f"{arm}.metrics"), arm
    for ablation in ("threshold", "training"):
        tables = [pd.read_csv(p.data / "08_reporting" / ablation / "results.csv")
                  for p in (sequential, distributed.project)]
        pd.testing.assert_frame_equal(*tables)
    for name in ("synthetic_pool", "synthetic_scores", "generator", "clip_model", "evaluator",
                 "drop_20.classifier", "sequential.classifier"):
        assert _equal(dask.load(name), seq.load(name)), name


def test_hooks_ran_once_in_the_driver(sequential: KedroProject,
                                      distributed: Distributed) -> None:
    """One fingerprint store with the sequential records; MLflow runs with the same content."""
    assert _store(distributed.project) == _store(sequential)
    runs = {}
    for side, project in (("seq", sequential), ("dask", distributed.project)):
        with KedroSession.create(project_path=project.root, env=project.env) as session:
            config = session.load_context().mlflow
        client = MlflowClient(config.server.mlflow_tracking_uri)
        experiment = client.get_experiment_by_name(config.tracking.experiment.name)
        runs[side] = client.search_runs([experiment.experiment_id],
                                        order_by=["attributes.start_time ASC"], max_results=100)
    parents = {side: [r for r in found if PARENT not in r.data.tags]
               for side, found in runs.items()}
    assert len(parents["dask"]) == len(ABLATIONS)
    for seq_run, dask_run in zip(parents["seq"], parents["dask"], strict=True):
        assert dask_run.info.status == "FINISHED"
        assert dask_run.data.params == seq_run.data.params
        assert _timeless(dask_run.data.metrics) == _timeless(seq_run.data.metrics)
    children = {side: sorted((r.data.tags["arm"], r.data.metrics.get("top1_mean"),
                              r.data.metrics.get("fid")) for r in found if PARENT in r.data.tags)
                for side, found in runs.items()}
    assert children["dask"] == children["seq"]
    assert {arm for arm, _, _ in children["dask"]} == set(ARMS)


def test_reports_show_nodes_spread_over_workers_and_gpu_claims(distributed: Distributed) -> None:
    pipelines = create_pipelines(declared())
    for name, runner in distributed.runners.items():
        reports = {report.node: report for report in runner.reports}
        assert len(runner.reports) == len(reports) == len(pipelines[name].nodes)
        driver = {node for node, report in reports.items() if report.worker == "driver"}
        assert driver == {n.name for n in pipelines[name].nodes if n.name.startswith("reporting.")}
        assert len({r.worker for r in reports.values()} - {"driver"}) == 2
        assert set(reports) >= PARTS
    # The runner's own LocalCluster has no GPU resources; the shared cluster's workers have one.
    assert not any(r.resources for r in distributed.runners["ablation_threshold"].reports)
    training = pipelines["ablation_training"]
    claimed = {r.node for r in distributed.runners["ablation_training"].reports if r.resources}
    assert claimed == {n.name for n in training.nodes if GPU_TAG in n.tags}
    assert PARTS | {"synthesis.train_generator", "sequential.train_classifier_seeds_0",
                    "evaluation.train_evaluator"} <= claimed


# ------------------------------------------------------------------ reruns
def _completed(caplog: pytest.LogCaptureFixture) -> set[str]:
    return {m.group(1) for r in caplog.records
            if (m := re.match(r"Completed node: (\S+)", r.getMessage()))}


def test_only_missing_outputs_reruns_what_sequential_reruns(
        tmp_path: Path, sequential: KedroProject, distributed: Distributed,
        cluster: LocalCluster, caplog: pytest.LogCaptureFixture) -> None:
    """Unchanged or after a sampling change: the nodes the sequential runner reruns, the same
    metrics, and scores of the new pool (not of a version cached before the run)."""
    dask, seq = _copy(distributed.project, tmp_path / "dask"), _copy(sequential, tmp_path / "seq")
    for params in ({}, {"synthesis": {"sampling": {"guidance_scale": 3.5}}}):
        runner = DaskRunner(address=cluster.scheduler_address, torch_threads=THREADS)
        _run(dask, "ablation_threshold", runner=runner, params=params, only_missing_outputs=True)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            _run(seq, "ablation_threshold", params=params, only_missing_outputs=True)
        ran = {r.node for r in runner.reports}
        assert ran == _completed(caplog)
        assert ("synthesis.generate_synthetic_pool" in ran) == bool(params)
    assert PARTS | {"synthesis.generate_synthetic_pool", "filtering.score_pool"} <= ran
    assert "synthesis.train_generator" not in ran
    catalog = dask.catalog()
    pool, scores = catalog.load("synthetic_pool"), catalog.load("synthetic_scores")
    assert torch.equal(scores["pixel_sums"], pixel_sums(pool["images"]))  # scored the new pool
    for arm in ARMS[:4]:
        assert catalog.load(f"{arm}.metrics") == seq.load(f"{arm}.metrics"), arm


def test_a_failed_node_leaves_saved_versions_intact_and_a_rerun_completes(
        tmp_path: Path, sequential: KedroProject, cluster: LocalCluster) -> None:
    """Part 3's receipt cannot be written (a folder is in the way): the run fails after the
    running parts finish; nothing is published half-made. The rerun makes only what is missing."""
    project = make_project(tmp_path / "project")
    _run(project, "data_processing")
    blocker = project.catalog()["synthetic_pool_part_3"].receipt_path
    blocker.mkdir(parents=True)
    failing = DaskRunner(address=cluster.scheduler_address, torch_threads=THREADS)
    with pytest.raises(Exception, match="part_3"):
        _run(project, "synthesis", runner=failing)
    catalog = project.catalog()
    assert not catalog.exists("synthetic_pool")  # never published
    assert catalog.exists("generator") and catalog.load("generator")
    done = {r.node for r in failing.reports}
    assert done == {"synthesis.train_generator"} | PARTS - {"synthesis.generate_pool_part_3"}
    staging = catalog["synthetic_pool"].staging_root
    assert not list(staging.glob("*/.*.tmp"))  # only complete shard files are staged

    blocker.rmdir()
    rerun = DaskRunner(address=cluster.scheduler_address, torch_threads=THREADS)
    _run(project, "synthesis", runner=rerun, only_missing_outputs=True)
    assert {r.node for r in rerun.reports} == {"synthesis.generate_pool_part_3",
                                               "synthesis.generate_synthetic_pool",
                                               "synthesis.plot_generator_samples"}
    assert _equal(project.load("synthetic_pool"), sequential.load("synthetic_pool"))
    assert not staging.exists()


def _kill_a_part_worker(client: Client, staging: Path, killed: dict[str, Any]) -> None:
    """Once 3 shards are staged, SIGKILL a worker process that is running a pool part."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if len(list(staging.glob("*/shard_*.safetensors"))) >= 3:
            for address, keys in client.processing().items():
                if any("generate_pool_part" in str(key) for key in keys):
                    pid = client.run(os.getpid, workers=[address])[address]
                    killed.update(at=time.time(), staged={p.name for p in
                                                         staging.glob("*/shard_*.safetensors")})
                    os.kill(pid, signal.SIGKILL)
                    return
        time.sleep(0.02)


@pytest.mark.slow  # ~100 s: a longer pool, so the kill lands mid-part
def test_a_killed_worker_costs_one_part_and_the_run_still_completes(
        tmp_path: Path, cluster: LocalCluster) -> None:
    """Dask reruns the lost part on another worker; shards staged before the kill are kept."""
    reference = make_project(tmp_path / "reference")
    _run(reference, "data_processing")
    _run(reference, "synthesis", params=LONG_POOL)
    project = make_project(tmp_path / "project")
    _run(project, "data_processing")
    staging = project.catalog()["synthetic_pool"].staging_root
    killed: dict[str, Any] = {}
    with Client(cluster.scheduler_address) as client:
        killer = threading.Thread(target=_kill_a_part_worker, args=(client, staging, killed))
        killer.start()
        runner = DaskRunner(address=cluster.scheduler_address, torch_threads=THREADS)
        _run(project, "synthesis", runner=runner, params=LONG_POOL)
        killer.join()
        client.wait_for_workers(2, timeout=120)  # the nanny restarted the killed worker
    assert killed, "no worker was running a pool part once 3 shards were staged"
    assert {r.node for r in runner.reports} >= PARTS | {"synthesis.generate_synthetic_pool"}
    assert _equal(project.load("synthetic_pool"), reference.load("synthetic_pool"))
    (version,) = (staging.parent / "synthetic_pool").iterdir()
    for name in killed["staged"]:  # reused, not made again
        assert (version / "synthetic_pool" / name).stat().st_mtime < killed["at"]


# ------------------------------------------------------------------ in-memory datasets
def _double(x: int) -> int:
    return 2 * x


def _increment(x: int) -> int:
    return x + 1


def _chain() -> Pipeline:
    return Pipeline([Node(_double, "a", "b", name="double"),
                     Node(_increment, "b", "c", name="increment")])


def _malloc_and_omp() -> tuple[str | None, str | None]:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("OMP_NUM_THREADS")


def test_local_cluster_workers_keep_glibc_malloc_adaptive(cluster: LocalCluster) -> None:
    """Dask's default MALLOC_TRIM_THRESHOLD_ halves torch's CPU speed: not set in workers."""
    with Client(cluster.scheduler_address) as client:
        assert set(client.run(_malloc_and_omp).values()) == {(None, "1")}


def test_an_in_memory_dataset_between_workers_fails_before_anything_runs(
        tmp_path: Path, cluster: LocalCluster) -> None:
    runner = DaskRunner(address=cluster.scheduler_address)
    catalog = DataCatalog(datasets={"a": MemoryDataset(3)})
    with pytest.raises(InMemoryTransferError, match=r"'b' \(made by double, read by increment"):
        runner.run(_chain(), catalog)
    assert runner.reports == []

    catalog = DataCatalog(datasets={"a": MemoryDataset(3),
                                    "b": JSONDataset(filepath=str(tmp_path / "b.json"))})
    result = runner.run(_chain(), catalog)
    assert json.loads((tmp_path / "b.json").read_text()) == 6
    assert result["c"].load() == 7  # a free in-memory output comes back to the driver
    assert {r.node for r in runner.reports} == {"double", "increment"}
