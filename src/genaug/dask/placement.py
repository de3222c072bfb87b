"""Where each node of a Dask run may run, checked before anything runs, and node priorities."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import networkx as nx
from kedro.io import AbstractDataset
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node


class InMemoryTransferError(ValueError):
    """An in-memory dataset would have to travel from one Dask worker to another."""



def dataset_of(catalog: Any, name: str) -> AbstractDataset:
    return catalog.get(name, fallback_to_runtime_pattern=True)


def is_memory(catalog: Any, name: str) -> bool:
    """Whether the dataset keeps its data in this process (parameters included)."""
    return bool(getattr(dataset_of(catalog, name), "_EPHEMERAL", False))


def _process_bound(catalog: Any, name: str) -> bool:
    """Whether the dataset only works in the process that has it (kedro-mlflow, single-process).

    The configured type is checked too: a wrapper (the rerun hook's stale marker) hides it.
    """
    if name.startswith("params:") or name == "parameters":
        return False
    dataset = dataset_of(catalog, name)
    if getattr(dataset, "_SINGLE_PROCESS", False):
        return True
    configured = str(catalog.config_resolver.resolve_pattern(name).get("type", ""))
    return any(kind.startswith("kedro_mlflow") for kind in (type(dataset).__module__, configured))


def needs_driver(node: Node, catalog: Any) -> bool:
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
            if on_workers and is_memory(catalog, name):
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
