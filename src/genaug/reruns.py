"""Rerun plans: which saved outputs a change made stale, why, and what is reused.

Every persisted output gets a record (its node, the parameter keys, code and library versions it
was made with, and its inputs' fingerprints) and a fingerprint (the record's digest). A saved
output whose stored fingerprint differs from the current one is stale; the reasons are the
differences between the two records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, MemoryDataset
from kedro.pipeline import Pipeline

from genaug.common.files import atomic_write_text
from genaug.fingerprints import (
    argument_names,
    code_digests,
    digest,
    library_versions,
    parameter_view,
)

logger = logging.getLogger(__name__)
STORE_FORMAT = 2


def output_records(pipeline: Pipeline, catalog: Any, stored: Mapping[str, Mapping[str, Any]]
                   ) -> dict[str, dict[str, Any]]:
    """The current record (with its `fingerprint`) of every output the pipeline produces.

    Parameter blocks load from the catalog as typed schema objects, so the fields that cannot
    change a result are left out of the record.
    """
    produced: dict[str, dict[str, Any]] = {}
    for node in pipeline.nodes:  # topologically sorted
        reads = getattr(node.func, "depends_on", {})
        args = argument_names(node.func, node.inputs)
        params: dict[str, Any] = {}
        inputs: dict[str, str] = {}
        for name in node.inputs:
            if name.startswith("params:") or name == "parameters":
                params[name] = parameter_view(catalog.load(name), reads.get(args.get(name, "")))
            else:
                upstream = produced.get(name) or stored.get(name) or {}
                inputs[name] = upstream.get("fingerprint", name)
        record = {"node": node.name, "params": params, "code": code_digests(node.func),
                  "libraries": library_versions(), "inputs": inputs}
        record["fingerprint"] = digest(record)
        for output in node.outputs:
            produced[output] = record
    return produced


def reasons(current: Mapping[str, Any], saved: Mapping[str, Any] | None) -> list[str]:
    """Why a saved output's record differs from the current one (empty: it is up to date)."""
    if not saved:
        return ["no fingerprint recorded for the saved output"]
    if saved.get("fingerprint") == current["fingerprint"]:
        return []
    found: list[str] = []
    for name, view in current["params"].items():
        old = saved.get("params", {}).get(name, {})
        for key in sorted(view.keys() | old.keys()):
            if view.get(key, "<unset>") != old.get(key, "<unset>"):
                dotted = ".".join(p for p in (name.removeprefix("params:"), key) if p)
                found.append(f"parameter {dotted}: {old.get(key, '<unset>')!r} -> "
                             f"{view.get(key, '<unset>')!r}" + _seeds_note(key, old, view))
    changed = sorted(k for k in current["code"].keys() | saved.get("code", {}).keys()
                     if current["code"].get(k) != saved.get("code", {}).get(k))
    if changed:
        found.append("code changed: " + ", ".join(changed))
    libs = {k: (saved.get("libraries", {}).get(k), v) for k, v in current["libraries"].items()
            if saved.get("libraries", {}).get(k) != v}
    found.extend(f"library {k}: {old} -> {new}" for k, (old, new) in sorted(libs.items()))
    found.extend(f"upstream {name} changed" for name, fp in current["inputs"].items()
                 if saved.get("inputs", {}).get(name) != fp)
    if saved.get("node") != current["node"]:
        found.append(f"made by another node ({saved.get('node')})")
    return found or ["fingerprint differs"]


def _seeds_note(key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """For a change of `seeds`: which seeds are new (a seed slot reuses the others from the
    arm's seed store when nothing else changed)."""
    if key != "seeds" or not isinstance(old.get(key), list) or not isinstance(new.get(key), list):
        return ""
    added = [s for s in new[key] if s not in old[key]]
    return (f" (new seeds {added}; seeds already trained with the same settings are reused "
            "from the seed store)") if added else ""


@dataclass
class Plan:
    """What a `--only-missing-outputs` run will do: nodes to run with reasons, outputs reused."""

    run: dict[str, list[str]] = field(default_factory=dict)
    reused: dict[str, str] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """The plan as lines a person reads before the run."""
        lines = [f"Rerun plan: {len(self.run)} node(s) to run, {len(self.reused)} saved "
                 "output(s) reused."]
        for node, why in self.run.items():
            lines.append(f"  run   {node}")
            lines.extend(f"          - {reason}" for reason in why)
        for name, version in self.reused.items():
            lines.append(f"  reuse {name}" + (f" (version {version})" if version else ""))
        return "\n".join(lines)


def make_plan(pipeline: Pipeline, catalog: Any, current: Mapping[str, Mapping[str, Any]],
              stored: Mapping[str, Mapping[str, Any]]) -> Plan:
    """Which nodes a `--only-missing-outputs` run executes (and why) and what it reuses."""
    plan = Plan()
    for node in pipeline.nodes:
        why: list[str] = []
        persisted = [name for name in node.outputs if _persisted(catalog, name)]
        for name in persisted:
            if not catalog.exists(name):
                why.append(f"{name} has no saved version")
                continue
            stale = reasons(current[name], stored.get(name))
            if stale:
                plan.stale.append(name)
                why.extend(f"{name}: {reason}" for reason in stale)
        if why or not persisted:
            plan.run[node.name] = list(dict.fromkeys(why)) or ["its outputs are not saved"]
        else:
            plan.reused.update({name: _version(catalog, name) for name in persisted})
    _add_memory_producers(pipeline, plan)
    return plan


def _add_memory_producers(pipeline: Pipeline, plan: Plan) -> None:
    """Nodes whose unsaved outputs feed a node that runs must run too (as Kedro does)."""
    by_output = {name: node for node in pipeline.nodes for name in node.outputs}
    for node in reversed(pipeline.nodes):
        if node.name not in plan.run:
            continue
        for name in node.inputs:
            producer = by_output.get(name)
            if producer is not None and producer.name not in plan.run and \
                    name not in plan.reused:
                plan.run[producer.name] = [f"{name} is needed by {node.name} and not saved"]


def _persisted(catalog: Any, name: str) -> bool:
    """Whether a dataset is saved somewhere (not an in-memory one)."""
    return name in catalog and not isinstance(catalog.get(name), MemoryDataset)


def _version(catalog: Any, name: str) -> str | None:
    """The saved version a run will load, for versioned datasets."""
    resolve = getattr(catalog.get(name), "resolve_load_version", None)
    try:
        return resolve() if resolve else None
    except Exception:  # an unversioned dataset or no saved version: nothing to name
        return None


class FingerprintStore:
    """The saved records of every output, in one JSON file written atomically.

    An unreadable or foreign file reads as empty: every output then counts as stale (never a
    crash, never a wrong reuse).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, dict[str, Any]]:
        """The saved records by output name ({} when missing or unreadable)."""
        if not self.path.exists():
            return {}
        try:
            content = json.loads(self.path.read_text())
            outputs = content["outputs"] if content.get("format") == STORE_FORMAT else None
            if not isinstance(outputs, dict):
                raise ValueError("not a fingerprint store of this format")
            return outputs
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            logger.warning("Ignoring unreadable %s; every output counts as stale.", self.path)
            return {}

    def write(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace the file atomically (a kill mid-write leaves the old file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps({"format": STORE_FORMAT, "outputs": records},
                                                indent=1, sort_keys=True, default=repr))


class Stale(AbstractDataset):
    """A dataset that reports itself missing but still loads and saves normally."""

    def __init__(self, inner: AbstractDataset) -> None:
        self._inner = inner

    def load(self) -> Any:
        """Load the wrapped dataset."""
        return self._inner.load()

    def save(self, data: Any) -> None:
        """Save through the wrapped dataset."""
        self._inner.save(data)

    def _exists(self) -> bool:
        return False

    def _release(self) -> None:
        # Forget the wrapped dataset's cached load version too: in another process (a Dask
        # worker) the version saved upstream is newer than the one cached when it was pickled.
        self._inner.release()

    def _describe(self) -> dict[str, Any]:
        return {"stale": True, "dataset": str(self._inner)}
