"""Untrusted files: every model/tensor load is weights-only or safetensors; no pickle in conf;
the one reader of pickled data (CIFAR's batches) builds nothing but numpy arrays and containers."""

from __future__ import annotations

import ast
import os
import pickle

import numpy as np
import pytest
import yaml

from genaug.datasets.restricted_pickle import ALLOWED, RestrictedPickleError, load_arrays
from tests.support import REPO

SOURCES = sorted((REPO / "src").rglob("*.py"))
UNSAFE_TYPES = ("pickle", "joblib", "cloudpickle", "dill")
# The only module that may import pickle: an Unpickler whose find_class admits a fixed list.
PICKLE_READER = REPO / "src" / "genaug" / "datasets" / "restricted_pickle.py"


def _calls(tree: ast.AST, dotted: str) -> list[ast.Call]:
    """Calls whose function is spelled `dotted` (e.g. torch.load)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == dotted:
            found.append(node)
    return found


def test_every_torch_load_is_weights_only() -> None:
    offenders = []
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        for call in _calls(tree, "torch.load"):
            keywords = {k.arg: k.value for k in call.keywords}
            value = keywords.get("weights_only")
            if not (isinstance(value, ast.Constant) and value.value is True):
                offenders.append(f"{path.relative_to(REPO)}:{call.lineno}")
    assert not offenders, f"torch.load without weights_only=True: {offenders}"


def test_no_pickle_module_in_sources() -> None:
    offenders = []
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n.split(".")[0] in UNSAFE_TYPES for n in names) and path != PICKLE_READER:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, f"pickle-like modules imported: {offenders}"


def _types(entry: object) -> list[str]:
    """Every `type:` in a catalog entry, nested datasets included."""
    if isinstance(entry, dict):
        own = [entry["type"]] if isinstance(entry.get("type"), str) else []
        return own + [t for value in entry.values() for t in _types(value)]
    return []


def test_catalog_has_no_pickle_datasets() -> None:
    offenders = []
    for path in sorted((REPO / "conf").rglob("catalog*.yml")):
        for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
            for kind in _types(entry):
                if kind.split(".")[0].lower() in UNSAFE_TYPES or "pickle" in kind.lower():
                    offenders.append(f"{path.relative_to(REPO)}:{name} ({kind})")
    assert not offenders, f"pickle-based catalog entries: {offenders}"


def test_the_pickle_reader_only_unpickles_through_its_find_class() -> None:
    tree = ast.parse(PICKLE_READER.read_text())
    direct = [ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)
              and ast.unparse(node.func) in ("pickle.load", "pickle.loads", "pickle.Unpickler")]
    assert not direct, direct
    readers = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
               and any(ast.unparse(base) == "pickle.Unpickler" for base in node.bases)]
    assert len(readers) == 1
    assert "find_class" in {f.name for f in readers[0].body if isinstance(f, ast.FunctionDef)}
    assert {module.split(".")[0] for module, _ in ALLOWED} == {"numpy", "builtins", "__builtin__"}


class _Call:
    """Pickles as a call of `func(*args)`."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return self.func, self.args


@pytest.mark.parametrize("payload", [_Call(os.system, "true"), _Call(eval, "1"),
                                     _Call(getattr, np.ndarray, "tofile"), np.load])
def test_the_pickle_reader_refuses_anything_but_arrays(payload: object) -> None:
    with pytest.raises(RestrictedPickleError, match="is refused: it would build"):
        load_arrays(pickle.dumps(payload, protocol=2))


@pytest.mark.parametrize("protocol", [3, 4])
def test_the_pickle_reader_reads_arrays_and_containers(protocol: int) -> None:
    content = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, (2, 3)]}
    loaded = load_arrays(pickle.dumps(content, protocol=protocol))
    assert np.array_equal(loaded[b"data"], content[b"data"]) and loaded[b"labels"] == [1, (2, 3)]
    with pytest.raises(RestrictedPickleError, match="is not a readable pickle"):
        load_arrays(pickle.dumps(content, protocol=protocol)[:-5])
