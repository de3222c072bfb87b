"""Execute notebooks/results.ipynb against a project copy, as `kedro jupyter lab --env` would."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from .conftest import REPO


def execute_results_notebook(root: Path, env: str) -> Any:
    """Run the project's results notebook in `root` on environment `env`; return it executed.

    The kernel gets `KEDRO_ENV`, as `kedro jupyter lab --env <env>` sets it, and starts in
    `notebooks/`, where `%load_ext kedro.ipython` finds the project.
    """
    (root / "notebooks").mkdir(exist_ok=True)
    path = root / "notebooks" / "results.ipynb"
    shutil.copy(REPO / "notebooks" / "results.ipynb", path)
    notebook = nbformat.read(path, as_version=4)
    kernel_env = {**os.environ, "KEDRO_ENV": env, "KEDRO_DISABLE_TELEMETRY": "true"}
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute(env=kernel_env)
    return notebook


def outputs(notebook: Any) -> list[Any]:
    """Every output of the notebook's code cells, in order."""
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def text_of(notebook: Any) -> str:
    """All text the notebook showed (Markdown, plain text, streams), joined."""
    parts = []
    for output in outputs(notebook):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.extend(data.get(kind, "") for kind in ("text/markdown", "text/plain"))
    return "\n".join(parts)


def images(notebook: Any) -> list[Any]:
    """The notebook's PNG outputs (figures)."""
    return [o for o in outputs(notebook) if "image/png" in o.get("data", {})]


def errors(notebook: Any) -> list[str]:
    """`ename: evalue` of every error output."""
    return [f"{o.ename}: {o.evalue}" for o in outputs(notebook) if o.output_type == "error"]
