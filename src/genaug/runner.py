"""Run a Kedro pipeline on a Dask cluster: ``kedro run --runner genaug.runner.DaskRunner``.

``--runner-params address=tcp://scheduler:8786`` uses a running cluster; without an address
the runner starts a ``distributed.LocalCluster`` on this machine (``n_workers`` processes,
default one per core) and stops it after the run.

Design (Kedro's Dask deployment recipe, adapted to Kedro 1.7's runner API)
--------------------------------------------------------------------------
* **Hooks run in the driver** (the ``kedro run`` process), never on workers: kedro-mlflow
  logs to the one run it holds open here, ``StaleOutputsHook`` writes its one fingerprint
  store, and the per-arm MLflow runs are made once. A worker's own hook manager (the recipe's
  way) would open other MLflow runs and write the store from several processes. Node hooks get
  what they get under the sequential runner, with one difference made for size: in
  ``before_node_run`` ``inputs`` holds only what the driver has (parameters, in-memory data);
  in ``after_node_run`` and ``on_node_error`` ``inputs``/``outputs`` are mappings that load a
  saved dataset from the catalog when a hook reads it. Dataset hooks are not called for loads
  and saves made on workers.
* **Data moves through the catalog, never through the scheduler**: a worker gets the node, the
  catalog entries of its saved inputs and outputs and the values the driver holds, loads,
  runs, saves, and returns its timing. Before anything runs, the runner fails if an in-memory
  dataset made on a worker is read by another node (:class:`InMemoryTransferError`).
* Nodes that touch a dataset living in this process (kedro-mlflow's datasets log to its active
  run; datasets marked ``_SINGLE_PROCESS``), and generator nodes (outputs saved chunk by chunk),
  run in the driver through Kedro's own ``Task``, every hook included.
* Nodes tagged ``gpu`` ask for ``resources={"GPU": 1}`` when a worker advertises a ``GPU``
  resource (``dask worker --resources GPU=1``, dask-cuda): at most one per GPU at a time.
* Scheduling is Kedro's: a node is submitted once its inputs are made, the node with the most
  work downstream first. A worker that dies takes only its running node, which Dask reruns
  elsewhere. On a node's error nothing new is submitted, running nodes finish (no save is
  cut), then the error is raised with Kedro's resume hint.
* Every task sets torch to ``torch_threads`` intra-op threads and restores the count after, so
  a node's numbers do not depend on which node ran on the worker before it. CPU float results
  equal the sequential runner's at the same thread count (see ``genaug.common.threads``).
"""

from __future__ import annotations

import inspect
import itertools
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import networkx as nx
from kedro.framework.project import LOGGING, configure_logging
from kedro.io import AbstractDataset, DataCatalog
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from kedro.runner import AbstractRunner, Task

if TYPE_CHECKING:
    from distributed import Client, LocalCluster
    from pluggy import PluginManager

GPU_TAG = "gpu"  # nodes that want an accelerator
GPU_RESOURCE = "GPU"  # the worker resource such a node claims, one unit each


class InMemoryTransferError(ValueError):
    """An in-memory dataset would have to travel from one Dask worker to another."""


@dataclass(frozen=True)
class TaskReport:
    """Where and how long one node ran (worker-side time: load, run, save)."""

    node: str
    worker: str  # the worker's address, or "driver"
    started: float  # time.time() when it started, on the machine that ran it
    seconds: float
    resources: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class _NodeTask:
    """What a worker needs to run one node: nothing refers back to the driver."""

    node: Node
    datasets: dict[str, AbstractDataset]  # the node's saved inputs and outputs
    values: dict[str, Any]  # inputs the driver holds (parameters, in-memory data, hook overrides)
    torch_threads: int
    logging_config: dict[str, Any]


@dataclass(frozen=True)
class _Outcome:
    """What a worker sends back: in-memory outputs (nobody on a worker reads them) and timing."""

    outputs: dict[str, Any]
    report: TaskReport


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
        in_driver = {node: _needs_driver(node, catalog) for node in pipeline.nodes}
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
            _Schedule(self, pipeline, catalog, hook_manager, run_id, in_driver, client,
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


class _Schedule:
    """One run's bookkeeping: submit ready nodes, collect results, call the hooks."""

    def __init__(self, runner: DaskRunner, pipeline: Pipeline, catalog: Any,
                 hooks: PluginManager, run_id: str | None, in_driver: Mapping[Node, bool],
                 client: Client, gpu: bool) -> None:
        self.runner, self.pipeline, self.catalog, self.hooks = runner, pipeline, catalog, hooks
        self.run_id, self.in_driver, self.client, self.gpu = run_id, in_driver, client, gpu
        self.log = runner._logger
        self.deps = pipeline.node_dependencies
        self.todo = set(pipeline.nodes)
        self.done: set[Node] = set()
        self.load_counts = Counter(itertools.chain.from_iterable(n.inputs for n in pipeline.nodes))
        self.priority = downstream_counts(pipeline)
        self.failure: BaseException | None = None

    def run(self) -> None:
        """Submit as nodes become ready until all ran or one failed and the rest finished."""
        from distributed import as_completed

        running: dict[Any, tuple[Node, dict[str, Any]]] = {}
        queue = as_completed()
        self._submit_ready(running, queue)
        for future in queue:
            node, held = running.pop(future)
            try:
                outcome: _Outcome = future.result()
            except Exception as error:  # the node's own error, or KilledWorker
                self._failed(node, held, error)
                continue
            self._finished(node, held, outcome.outputs)
            self._completed(node, replace(outcome.report, resources=self._claims(node)))
            self._submit_ready(running, queue)
        if self.failure is not None:
            self.runner._suggest_resume_scenario(self.pipeline, self.done, self.catalog)
            raise self.failure
        if self.todo:
            raise RuntimeError(f"Unable to schedule {sorted(n.name for n in self.todo)}")

    def _submit_ready(self, running: dict[Any, tuple[Node, dict[str, Any]]],
                      queue: Any) -> None:
        """Submit every node whose inputs are made; run driver nodes here as they come."""
        while self.failure is None:
            ready = sorted((n for n in self.todo if self.deps[n] <= self.done),
                           key=lambda n: (-self.priority[n], n.name))
            if not ready:
                return
            for node in ready:
                self.todo.discard(node)
                if self.in_driver[node]:
                    self._run_in_driver(node)
                    break  # its outputs may make other nodes ready
                held = self._driver_values(node)
                held.update(self._before_node_run(node, held))
                future = self._submit(node, held)
                running[future] = (node, held)
                queue.add(future)
            else:
                return

    def _driver_values(self, node: Node) -> dict[str, Any]:
        """The node's inputs the driver holds (parameters, in-memory data), with load hooks."""
        values = {}
        for name in node.inputs:
            if _is_memory(self.catalog, name):
                self.hooks.hook.before_dataset_loaded(dataset_name=name, node=node)
                values[name] = self.catalog.load(name)
                self.hooks.hook.after_dataset_loaded(dataset_name=name, data=values[name],
                                                     node=node)
        return values

    def _before_node_run(self, node: Node, held: dict[str, Any]) -> dict[str, Any]:
        """Call before_node_run here; the inputs hooks replace are sent to the worker."""
        overrides: dict[str, Any] = {}
        for response in self.hooks.hook.before_node_run(
                node=node, catalog=self.catalog, inputs=dict(held), is_async=False,
                run_id=self.run_id) or []:
            if response is not None and not isinstance(response, dict):
                raise TypeError("'before_node_run' must return either None or a dictionary "
                                f"mapping dataset names to updated values, got "
                                f"'{type(response).__name__}' instead.")
            overrides.update(response or {})
        return overrides

    def _submit(self, node: Node, values: dict[str, Any]) -> Any:
        """Send the node to the cluster (claiming a GPU when it is tagged and there are some)."""
        datasets = {name: _dataset(self.catalog, name) for name in (*node.inputs, *node.outputs)
                    if name not in values and not _is_memory(self.catalog, name)}
        task = _NodeTask(node, datasets, values, self.runner._torch_threads, dict(LOGGING))
        return self.client.submit(_execute, task, key=f"{node.name}-{uuid.uuid4().hex[:8]}",
                                  priority=self.priority[node],
                                  resources=dict(self._claims(node)) or None, pure=False)

    def _claims(self, node: Node) -> tuple[tuple[str, float], ...]:
        """The worker resources the node asks for: one GPU if tagged and the cluster has any."""
        return ((GPU_RESOURCE, 1),) if self.gpu and GPU_TAG in node.tags else ()

    def _finished(self, node: Node, held: dict[str, Any], returned: dict[str, Any]) -> None:
        """Keep returned in-memory outputs, drop stale cached versions, call after_node_run."""
        for name, data in returned.items():
            self.hooks.hook.before_dataset_saved(dataset_name=name, data=data, node=node)
            self.catalog.save(name, data)
            self.hooks.hook.after_dataset_saved(dataset_name=name, data=data, node=node)
        for name in node.outputs:
            if name not in returned:  # saved on the worker: forget versions cached here
                self.catalog.release(name)
        self.hooks.hook.after_node_run(
            node=node, catalog=self.catalog, inputs=_Lazy(self.catalog, node.inputs, held),
            outputs=_Lazy(self.catalog, node.outputs, returned), is_async=False,
            run_id=self.run_id)

    def _failed(self, node: Node, held: dict[str, Any], error: BaseException) -> None:
        """Call on_node_error; stop submitting; the first error is raised at the end."""
        self.hooks.hook.on_node_error(error=error, node=node, catalog=self.catalog,
                                      inputs=_Lazy(self.catalog, node.inputs, held),
                                      is_async=False, run_id=self.run_id)
        self.log.error("Node %s failed: %r", node.name, error)
        if self.failure is None:
            self.failure = error

    def _run_in_driver(self, node: Node) -> None:
        """A node whose datasets live in this process: Kedro's Task, every hook included."""
        for name in node.inputs:
            if not _is_memory(self.catalog, name):
                self.catalog.release(name)  # may have been saved by a worker since cached here
        started, start = time.time(), time.perf_counter()
        try:
            Task(node=node, catalog=self.catalog, hook_manager=self.hooks, is_async=False,
                 run_id=self.run_id).execute()
        except Exception as error:  # Task has called on_node_error
            self.log.error("Node %s failed: %r", node.name, error)
            self.failure = error
            return
        self._completed(node, TaskReport(node.name, "driver", started,
                                         time.perf_counter() - start))

    def _completed(self, node: Node, report: TaskReport) -> None:
        self.done.add(node)
        self.runner.reports.append(report)
        self.log.info("Completed node: %s", node.name)
        self.log.info("Completed %d out of %d tasks (%s on %s, %.1f s)", len(self.done),
                      len(self.pipeline.nodes), node.name, report.worker, report.seconds)
        self.runner._release_datasets(node, self.catalog, self.load_counts, self.pipeline)


class _Lazy(Mapping[str, Any]):
    """A node's inputs or outputs for the driver's hooks: what the driver holds, and saved
    datasets loaded from the catalog only if a hook reads them (most hooks never do)."""

    def __init__(self, catalog: Any, names: Iterable[str], held: Mapping[str, Any]) -> None:
        self._catalog, self._names, self._values = catalog, list(names), dict(held)

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            if name not in self._names:
                raise KeyError(name)
            self._catalog.release(name)  # the version a worker saved, not one cached here
            self._values[name] = self._catalog.load(name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:  # without loading (Mapping's would load)
        return name in self._values or name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


# ---------------------------------------------------------------------- placement checks
def _dataset(catalog: Any, name: str) -> AbstractDataset:
    return catalog.get(name, fallback_to_runtime_pattern=True)


def _is_memory(catalog: Any, name: str) -> bool:
    """Whether the dataset keeps its data in this process (parameters included)."""
    return bool(getattr(_dataset(catalog, name), "_EPHEMERAL", False))


def _process_bound(catalog: Any, name: str) -> bool:
    """Whether the dataset only works in the process that has it (kedro-mlflow, single-process).

    The configured type is checked too: a wrapper (the rerun hook's stale marker) hides it.
    """
    if name.startswith("params:") or name == "parameters":
        return False
    dataset = _dataset(catalog, name)
    if getattr(dataset, "_SINGLE_PROCESS", False):
        return True
    configured = str(catalog.config_resolver.resolve_pattern(name).get("type", ""))
    return any(kind.startswith("kedro_mlflow") for kind in (type(dataset).__module__, configured))


def _needs_driver(node: Node, catalog: Any) -> bool:
    """Whether the node runs in the driver: it touches a process-bound dataset, or it streams
    its outputs in chunks (a generator), which Kedro's Task saves as they come."""
    return inspect.isgeneratorfunction(node.func) or any(
        _process_bound(catalog, name) for name in (*node.inputs, *node.outputs))


def check_transfers(pipeline: Pipeline, catalog: Any, in_driver: Mapping[Node, bool]) -> None:
    """Raise InMemoryTransferError if an in-memory output made on a worker is read on a worker.

    Such data would have to pass through the driver (or be lost with its worker): declare it
    in the catalog so it is saved where every worker can read it. In-memory outputs read only
    by driver nodes (or by nobody) are sent back to the driver.
    """
    readers: dict[str, list[Node]] = {}
    for node in pipeline.nodes:
        for name in node.inputs:
            readers.setdefault(name, []).append(node)
    problems = []
    for node in pipeline.nodes:
        for name in node.outputs if not in_driver[node] else ():
            on_workers = [r.name for r in readers.get(name, []) if not in_driver[r]]
            if on_workers and _is_memory(catalog, name):
                problems.append(f"'{name}' (made by {node.name}, read by "
                                f"{', '.join(on_workers)})")
    if problems:
        raise InMemoryTransferError(
            "DaskRunner: these in-memory datasets would have to travel between Dask workers: "
            + "; ".join(sorted(problems)) + ". Declare them in the catalog (a saved dataset "
            "every worker can read), or run with the SequentialRunner.")


def downstream_counts(pipeline: Pipeline) -> dict[Node, int]:
    """How many nodes depend on each node, directly or not (more first: the critical work)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(pipeline.nodes)
    graph.add_edges_from((parent, node) for node, parents in pipeline.node_dependencies.items()
                         for parent in parents)
    return {node: len(nx.descendants(graph, node)) for node in pipeline.nodes}


# ---------------------------------------------------------------------- on the worker
_LOGGING_READY = False


def _execute(task: _NodeTask) -> _Outcome:
    """Run one node on a worker: load its inputs, run it, save its outputs (see _NodeTask)."""
    from genaug.common.threads import torch_threads  # torch only on workers

    global _LOGGING_READY
    if not _LOGGING_READY and task.logging_config:  # the project's logging, once per process
        configure_logging(task.logging_config)
        _LOGGING_READY = True
    node = task.node
    started, start = time.time(), time.perf_counter()
    catalog = DataCatalog(datasets=dict(task.datasets))
    with torch_threads(task.torch_threads):
        inputs = {}
        for name in node.inputs:
            if name in task.values:
                inputs[name] = task.values[name]
            else:  # drop versions the driver had cached: load what upstream workers saved
                catalog.release(name)
                inputs[name] = catalog.load(name)
        returned: dict[str, Any] = {}
        for name, data in node.run(inputs).items():
            if name in task.datasets:
                catalog.save(name, data)
            else:
                returned[name] = data
        for name in node.confirms:
            catalog.confirm(name)
    return _Outcome(returned, TaskReport(node.name, _worker_address(), started,
                                         time.perf_counter() - start))


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:  # not on a worker (called directly)
        return "local"
