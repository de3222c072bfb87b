"""Output fingerprints: what a node's outputs depend on (parameters, code, libraries, inputs).

A node's fingerprint covers exactly what can change its outputs:
- the parameter keys it reads: the schema fields not marked `affects_results=False`, narrowed to
  the keys a node declares with `depends_on` (e.g. the generator reads `synthesis.model` and
  `synthesis.train`, not `synthesis.sampling`);
- the source of the node's module and of every genaug module it imports, transitively;
- the versions of the libraries that compute results (torch, diffusers, open_clip, ...);
- the fingerprints of its dataset inputs (Merkle-style: a change flows downstream).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from genaug.schemas.base import Schema

LIBRARIES = ("torch", "torchvision", "diffusers", "open_clip_torch", "torchmetrics",
             "safetensors", "numpy", "kedro")
_PACKAGE_ROOT = Path(__file__).resolve().parent
_F = TypeVar("_F", bound=Callable[..., Any])


def depends_on(**keys: Iterable[str]) -> Callable[[_F], _F]:
    """Declare, per parameter argument, the block keys (dotted) that can change the outputs."""

    def mark(func: _F) -> _F:
        func.depends_on = {arg: tuple(names) for arg, names in keys.items()}  # type: ignore[attr-defined]
        return func

    return mark


def parameter_view(value: Any, keys: Iterable[str] | None = None) -> dict[str, Any]:
    """The flattened `key -> value` pairs of a parameter that can change a result."""
    full = value.result_view() if isinstance(value, Schema) else value
    flat = _flatten(full) if isinstance(full, Mapping) else {"": full}
    if keys is None:
        return flat
    prefixes = tuple(keys)
    return {key: item for key, item in flat.items()
            if any(key == p or key.startswith(f"{p}.") for p in prefixes)}


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def argument_names(func: Callable[..., Any], inputs: list[str]) -> dict[str, str]:
    """Map a node's input names to the function's argument names (positional binding)."""
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return {}
    return dict(zip(inputs, params, strict=False))


@functools.cache
def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that compute results."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def code_digests(func: Callable[..., Any]) -> dict[str, str]:
    """SHA-256 of the source of the function's module and every genaug module it imports."""
    module = getattr(func, "__module__", None) or ""
    path = _module_path(module)
    if path is None:  # not project code (a library function or a test's helper)
        return {f"{module}.{getattr(func, '__qualname__', repr(func))}": ""}
    return {name: _file_digest(name) for name in sorted(_closure(module))}


@functools.cache
def _closure(module: str) -> frozenset[str]:
    """The module and every genaug module it imports, transitively (by reading the source)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        path = _module_path(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        todo.extend(_imports(path))
    return frozenset(seen)


@functools.cache
def _imports(path: Path) -> tuple[str, ...]:
    """The genaug modules a file imports (`import x`, `from x import y` where y may be a module)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return tuple(name for name in found if name.split(".")[0] == "genaug")


def _module_path(module: str) -> Path | None:
    """The source file of a genaug module, or None for anything else."""
    if module.split(".")[0] != "genaug":
        return None
    relative = Path(*module.split(".")[1:])
    for candidate in (_PACKAGE_ROOT / relative / "__init__.py",
                      _PACKAGE_ROOT / relative.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _file_digest(module: str) -> str:
    """SHA-256 of a module's source file (cached for the process: source does not change)."""
    path = _module_path(module)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path else ""


def result_key(func: Callable[..., Any], record: Mapping[str, Any]) -> str:
    """A digest of what a result made by `func` depends on: `record` (parameters, seed, data
    digest, device...), the code `func` runs and the library versions (a seed store's or a
    training checkpoint's key)."""
    return digest({**record, "code": code_digests(func), "libraries": library_versions()})


def digest(record: Mapping[str, Any]) -> str:
    """A stable SHA-256 of a JSON-able record."""
    text = json.dumps(record, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()
