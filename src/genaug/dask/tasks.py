"""The worker side of the Dask runner: what a task carries, and running one node from it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kedro.framework.project import configure_logging
from kedro.io import AbstractDataset, DataCatalog
from kedro.pipeline.node import Node

from genaug.logs import plain_logs_off_terminal

GPU_TAG = "gpu"  # nodes that want an accelerator
GPU_RESOURCE = "GPU"  # the worker resource such a node claims, one unit each


@dataclass(frozen=True)
class TaskReport:
    """Where and how long one node ran (worker-side time: load, run, save)."""

    node: str
    worker: str  # the worker's address, or "driver"
    started: float  # time.time() when it started, on the machine that ran it
    seconds: float
    resources: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class NodeTask:
    """What a worker needs to run one node: nothing refers back to the driver."""

    node: Node
    datasets: dict[str, AbstractDataset]  # the node's saved inputs and outputs
    values: dict[str, Any]  # inputs the driver holds (parameters, in-memory data, hook overrides)
    torch_threads: int
    logging_config: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back: in-memory outputs (nobody on a worker reads them) and timing."""

    outputs: dict[str, Any]
    report: TaskReport


_LOGGING_READY = False


def execute(task: NodeTask) -> Outcome:
    """Run one node on a worker: load its inputs, run it, save its outputs (see NodeTask)."""
    from genaug.common.threads import torch_threads  # torch only on workers

    global _LOGGING_READY
    if not _LOGGING_READY and task.logging_config:  # the project's logging, once per process
        configure_logging(task.logging_config)
        plain_logs_off_terminal()  # a worker's stdout is a pipe or a log file
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
    return Outcome(returned, TaskReport(node.name, _worker_address(), started,
                                         time.perf_counter() - start))


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:  # not on a worker (called directly)
        return "local"

