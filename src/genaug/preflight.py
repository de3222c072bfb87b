"""Checks before the first node: every saved input a run reads must have a saved version, and
the raw images must be there with the shape the parameters expect.

Without this, `kedro run --pipeline synthesis` on a fresh clone fails inside its first node with
`DatasetError: real_train: Did not find any versions for ...`. Here it fails before anything
runs, naming the missing datasets and the registered pipeline(s) that produce them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kedro.io import MemoryDataset
from kedro.pipeline import Pipeline

from genaug.common.validation import ParameterError

_SHOWN = 3  # missing datasets named in the message; the rest are counted


class MissingInputError(Exception):
    """A saved input of the requested pipeline has no saved version (its producer never ran)."""

    def __init__(self, missing: list[str], command: str | None) -> None:
        self.missing = missing
        self.command = command
        names = ", ".join(missing[:_SHOWN])
        if len(missing) > _SHOWN:
            names += f" and {len(missing) - _SHOWN} more"
        verb = "has" if len(missing) == 1 else "have"
        todo = f"run `{command}` first." if command else "no registered pipeline produces it."
        super().__init__(f"{names} {verb} no saved version: {todo}")


def missing_inputs(pipeline: Pipeline, catalog: Any,
                   producers: Mapping[str, Pipeline]) -> list[str]:
    """The pipeline's saved inputs that a registered pipeline produces but that are not saved.

    Inputs no registered pipeline produces (the raw data) are left to their dataset's own load
    error, which names the file; parameters and in-memory datasets are never checked.
    """
    produced = set().union(*(p.all_outputs() for p in producers.values()))
    missing = []
    for name in sorted(pipeline.inputs()):
        if name.startswith("params:") or name == "parameters" or name not in produced:
            continue
        if name not in catalog or isinstance(catalog.get(name), MemoryDataset):
            continue
        if not catalog.exists(name):
            missing.append(name)
    return missing


def producing_command(missing: list[str], producers: Mapping[str, Pipeline],
                      env: str | None) -> str | None:
    """The `kedro run` command that produces every missing dataset, or None if none does.

    Each dataset maps to the smallest registered pipeline that outputs it; a pipeline contained
    in another chosen one is dropped; the rest run together (`--pipelines a,b`, upstream first),
    or as plain `kedro run` when together they are the whole `__default__` pipeline.
    """
    stages = {key: p for key, p in producers.items() if key != "__default__"}
    default = producers.get("__default__")
    chosen: set[str] = set()
    for name in missing:
        smallest = min(((len(p.nodes), key) for key, p in stages.items()
                        if name in p.all_outputs()), default=None)
        if smallest is not None:
            chosen.add(smallest[1])
        elif default is not None and name in default.all_outputs():
            chosen.add("__default__")
        else:
            return None
    nodes = {key: set(producers[key].nodes) for key in chosen}
    chosen = {key for key in chosen if not any(nodes[key] < nodes[other] for other in chosen)}
    suffix = f" --env {env}" if env else ""
    if default is not None and ("__default__" in chosen
                                or set().union(*nodes.values()) == set(default.nodes)):
        return f"kedro run{suffix}"
    order = {node: index for index, node in enumerate(default.nodes)} if default else {}
    ordered = sorted(chosen, key=lambda key: (min((order.get(n, 0) for n in nodes[key]),
                                                   default=0), key))
    if len(ordered) == 1:
        return f"kedro run --pipeline {ordered[0]}{suffix}"
    return f"kedro run --pipelines {','.join(ordered)}{suffix}"


def check_saved_inputs(pipeline: Pipeline, catalog: Any, producers: Mapping[str, Pipeline],
                       env: str | None) -> None:
    """Raise MissingInputError when a saved input of `pipeline` has no saved version."""
    missing = missing_inputs(pipeline, catalog, producers)
    if missing:
        raise MissingInputError(missing, producing_command(missing, producers, env))


def check_raw_images(pipeline: Pipeline, catalog: Any, producers: Mapping[str, Pipeline],
                     expected: tuple[int, int, int]) -> None:
    """Fail when a raw input is missing or its images are not `data_processing.image_shape`.

    A raw input is one no registered pipeline produces whose dataset can tell its images'
    shape without loading them (`image_shape()`, the project's raw image datasets); a missing
    file fails with the dataset's own error naming it.
    """
    produced = set().union(*(p.all_outputs() for p in producers.values()))
    raw = pipeline.inputs() - produced
    # In the order the nodes read them (raw_train before raw_test), each once.
    for name in dict.fromkeys(n for node in pipeline.nodes for n in node.inputs if n in raw):
        probe = getattr(catalog.get(name), "image_shape", None) if name in catalog else None
        if not callable(probe):
            continue
        shape = tuple(int(v) for v in probe())
        if shape != tuple(expected):
            raise ParameterError("data_processing.image_shape",
                                 f"{list(shape)}, the shape of the images of {name}",
                                 list(expected))
