"""The package's import graph has no cycles, and low rooms never import higher ones."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Every genaug module -> the genaug modules it imports (anywhere in the file)."""
    modules = {_module_name(p): p for p in (SRC / "genaug").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:  # `from pkg import module` or `from module import name`
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, if any (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles() -> None:
    cycle = _cycle(_import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_low_rooms_do_not_import_higher_ones() -> None:
    rules = {  # room -> rooms it must never import
        "genaug.common": ("genaug.schemas", "genaug.models", "genaug.pipelines", "genaug.hooks"),
        "genaug.schemas": ("genaug.models", "genaug.pipelines", "genaug.hooks",
                           "genaug.datasets"),
        "genaug.models": ("genaug.pipelines", "genaug.hooks"),
        "genaug.datasets": ("genaug.pipelines", "genaug.hooks"),
    }
    for module, targets in _import_graph().items():
        for room, forbidden in rules.items():
            if module.startswith(room):
                bad = sorted(t for t in targets if t.startswith(forbidden))
                assert not bad, f"{module} imports {bad}"


def test_stage_pipelines_do_not_import_each_other() -> None:
    stages = ("data_processing", "synthesis", "filtering", "training", "evaluation", "reporting",
              "generator_report")
    for module, targets in _import_graph().items():
        for stage in stages:
            if module.startswith(f"genaug.pipelines.{stage}"):
                others = [t for t in targets if t.startswith("genaug.pipelines.")
                          and not t.startswith(f"genaug.pipelines.{stage}")
                          and t != "genaug.pipelines"]
                assert not others, f"{module} imports {others}"
