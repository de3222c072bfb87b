"""`DaskRunner`, Kedro's runner interface on a Dask cluster, and the local cluster it starts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kedro.pipeline import Pipeline
from kedro.runner import AbstractRunner

from genaug.dask.placement import check_transfers, needs_driver
from genaug.dask.schedule import Schedule
from genaug.dask.tasks import GPU_RESOURCE, GPU_TAG, TaskReport

if TYPE_CHECKING:
    from distributed import Client, LocalCluster
    from pluggy import PluginManager


class DaskRunner(AbstractRunner):
    """Run each node as a task on a Dask cluster; hooks, parameters and data stay as Kedro's.

    Args:
        address: scheduler of a running cluster (``tcp://host:8786``); None starts a
            ``LocalCluster`` of `n_workers` processes on 127.0.0.1 for the run.
        n_workers: local workers to start (default: one per core); with `address`, how many
            workers to wait for before scheduling (default 1).
        torch_threads: torch intra-op threads of every task (1: workers share the cores).
        timeout: seconds to wait for the scheduler and the workers.
        is_async: accepted for Kedro's CLI; loads and saves happen on the workers either way.
    """

    def __init__(self, address: str | None = None, n_workers: int | None = None,
                 torch_threads: int = 1, timeout: float = 120, is_async: bool = False) -> None:
        super().__init__(is_async=is_async)
        if n_workers is not None and n_workers < 1:
            raise ValueError(f"n_workers must be at least 1, got {n_workers}")
        if torch_threads < 1:
            raise ValueError(f"torch_threads must be at least 1, got {torch_threads}")
        self._address = str(address) if address else None
        self._n_workers = n_workers
        self._torch_threads = int(torch_threads)
        self._timeout = float(timeout)
        self.reports: list[TaskReport] = []  # one per node of the last run, in completion order

    def _get_executor(self, max_workers: int) -> None:
        """Unused: Dask's scheduler places the nodes (Kedro's executor loop is not used)."""
        return None

    # ------------------------------------------------------------------ run
    def _run(self, pipeline: Pipeline, catalog: Any, hook_manager: PluginManager | None = None,
             run_id: str | None = None) -> None:
        """Check where every node can run, then run them on the cluster (see the module doc)."""
        if hook_manager is None:
            raise ValueError("DaskRunner runs through AbstractRunner.run, which passes hooks")
        in_driver = {node: needs_driver(node, catalog) for node in pipeline.nodes}
        check_transfers(pipeline, catalog, in_driver)
        if self._is_async:
            self._logger.info("DaskRunner: inputs are loaded on the workers; --async ignored")
        self.reports = []
        with self._client() as client:
            info = client.scheduler_info()
            gpu = any(GPU_RESOURCE in (worker.get("resources") or {})
                      for worker in info["workers"].values())
            self._logger.info("Dask cluster %s: %d workers%s", info["address"],
                              len(info["workers"]),
                              f"; '{GPU_TAG}' nodes claim one {GPU_RESOURCE} each" if gpu
                              else f"; no {GPU_RESOURCE} resources")
            Schedule(self, pipeline, catalog, hook_manager, run_id, in_driver, client,
                      gpu).run()

    @contextmanager
    def _client(self) -> Iterator[Client]:
        """A client of the given cluster, or of a local cluster started (and stopped) here."""
        from distributed import Client

        if self._address:
            with Client(self._address, timeout=self._timeout) as client:
                client.wait_for_workers(self._n_workers or 1, timeout=self._timeout)
                yield client
            return
        with local_cluster(self._n_workers or os.cpu_count() or 1) as cluster, \
                Client(cluster, timeout=self._timeout) as client:
            yield client


@contextmanager
def local_cluster(n_workers: int, **worker_kwargs: Any) -> Iterator[LocalCluster]:
    """A LocalCluster of `n_workers` single-task worker processes on 127.0.0.1, set for torch.

    * Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers by default; an explicit
      trim threshold turns off glibc's adaptive mmap threshold, so every large tensor is mapped
      and unmapped again: torch CPU work ran 2x slower here. It is left unset.
    * The nanny writes its worker environment (``OMP_NUM_THREADS=1``, ...) into this process's
      ``os.environ``; it is restored afterwards, so later subprocesses are not affected.
    * No memory limit: the nanny would pause or kill a worker whose node holds a large model.
    """
    import dask
    from distributed import LocalCluster

    environ = dict(os.environ)
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_":
                              None}), \
                LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                             host="127.0.0.1", dashboard_address=None, memory_limit=0,
                             **worker_kwargs) as cluster:
            yield cluster
    finally:
        os.environ.clear()
        os.environ.update(environ)
