"""One Dask run's scheduling: submit ready nodes, collect results, call Kedro's hooks here."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kedro.framework.project import LOGGING
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from kedro.runner import AbstractRunner, Task

from genaug.dask.placement import dataset_of, downstream_counts, is_memory
from genaug.dask.tasks import GPU_RESOURCE, GPU_TAG, NodeTask, Outcome, TaskReport, execute

if TYPE_CHECKING:
    from distributed import Client
    from pluggy import PluginManager


class Schedule:
    """One run's bookkeeping: submit ready nodes, collect results, call the hooks."""

    def __init__(self, runner: AbstractRunner, pipeline: Pipeline, catalog: Any,
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
                outcome: Outcome = future.result()
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
            if is_memory(self.catalog, name):
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
        datasets = {name: dataset_of(self.catalog, name) for name in (*node.inputs, *node.outputs)
                    if name not in values and not is_memory(self.catalog, name)}
        task = NodeTask(node, datasets, values, self.runner._torch_threads, dict(LOGGING))
        return self.client.submit(execute, task, key=f"{node.name}-{uuid.uuid4().hex[:8]}",
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
            if not is_memory(self.catalog, name):
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
