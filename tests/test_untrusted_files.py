"""Untrusted files: every model/tensor load is weights-only or safetensors; no pickle in conf."""

from __future__ import annotations

import ast

import yaml

from tests.support import REPO

SOURCES = sorted((REPO / "src").rglob("*.py"))
UNSAFE_TYPES = ("pickle", "joblib", "cloudpickle", "dill")


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
            if any(n.split(".")[0] in UNSAFE_TYPES for n in names):
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
