"""Helpers shared by the tests (conftest.py holds only fixtures): the repository root, project
copies to run real pipelines in, the project's parameters, tiny image bundles, and the results
notebook run as `kedro jupyter` would."""

from __future__ import annotations

import copy
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
import torch
import yaml
from kedro.config import OmegaConfigLoader
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow.tracking import MlflowClient
from nbclient import NotebookClient

from genaug.common.validation import ParameterError
from genaug.config import ValidatingConfigLoader
from genaug.schemas.ablations import Declaration
from genaug.schemas.base import deep_merge, parse
from genaug.schemas.evaluation import EvaluationParams
from genaug.schemas.filtering import FilteringParams, FilterParams
from genaug.schemas.synthesis import SynthesisParams
from genaug.schemas.training import TrainingParams

REPO = Path(__file__).resolve().parents[1]
PARENT_RUN = "mlflow.parentRunId"  # the tag MLflow gives a child run


# ----------------------------------------------------------------------------- project copies


class KedroProject:
    """A project copy in a temporary folder: run pipelines and read the catalog there."""

    def __init__(self, root: Path, env: str = "test") -> None:
        self.root = root
        self.env = env

    @property
    def data(self) -> Path:
        """The environment's data root (`data_root` in conf/<env>/globals.yml)."""
        loader = OmegaConfigLoader(str(self.root / "conf"), env=self.env, base_env="base",
                                   default_run_env="local")
        return self.root / loader["globals"]["data_root"]

    def run(self, pipeline: str, params: dict[str, Any] | None = None,
            **run_kwargs: Any) -> dict[str, Any]:
        """Run a registered pipeline in a fresh session and return its free outputs."""
        with KedroSession.create(project_path=self.root, env=self.env,
                                 runtime_params=params) as session:
            return session.run(pipeline_names=[pipeline], **run_kwargs)

    def catalog(self, params: dict[str, Any] | None = None):
        """The project's catalog as a fresh session sees it (latest versions)."""
        with KedroSession.create(project_path=self.root, env=self.env,
                                 runtime_params=params) as session:
            return session.load_context().catalog

    def load(self, name: str) -> Any:
        """Load the latest version of a catalog entry."""
        return self.catalog().load(name)


def child_runs(project: KedroProject) -> dict[str, Any]:
    """The MLflow child runs (by arm) of the project's only parent run."""
    with KedroSession.create(project_path=project.root, env=project.env) as session:
        config = session.load_context().mlflow
    client = MlflowClient(config.server.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(config.tracking.experiment.name).experiment_id
    runs = client.search_runs([experiment], max_results=1000)
    (parent,) = [run for run in runs if PARENT_RUN not in run.data.tags]
    return {run.data.tags["arm"]: run for run in runs
            if run.data.tags.get(PARENT_RUN) == parent.info.run_id}


def completed_nodes(records: list[logging.LogRecord]) -> set[str]:
    """The nodes a run's log says it completed."""
    return {m.group(1) for r in records
            if (m := re.match(r"Completed node: (\S+)", r.getMessage()))}


def make_project(root: Path) -> KedroProject:
    """Copy conf/, pyproject.toml and .telemetry into `root` and link the raw data."""
    root.mkdir(parents=True)
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(REPO / name, root / name)
    (root / "src").mkdir()  # kedro wants the folder; the package is imported from REPO/src
    (root / "data").mkdir()
    (root / "data" / "01_raw").symlink_to(REPO / "data" / "01_raw")
    bootstrap_project(root)
    return KedroProject(root)


@contextmanager
def ran_project(factory: pytest.TempPathFactory, name: str, pipeline: str,
                params: dict[str, Any] | None = None) -> Iterator[KedroProject]:
    """A new project under a temporary folder, run once with `pipeline` from inside it."""
    with pytest.MonkeyPatch.context() as patch:
        project = make_project(factory.mktemp(name) / "project")
        patch.chdir(project.root)
        project.run(pipeline, params=params)
        yield project


# ----------------------------------------------------------------------------- parameters


def raw_parameters(env: str) -> dict[str, Any]:
    """A shipped environment's merged parameters before validation (a copy to edit)."""
    from genaug.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(str(REPO / "conf"), env=None if env == "base" else env,
                               **CONFIG_LOADER_ARGS)
    return copy.deepcopy(dict(loader["parameters"]))


def parameters_file(env: str, stage: str) -> dict[str, Any]:
    """conf/<env>/parameters_<stage>.yml as plain dicts ({} where the environment has none)."""
    path = REPO / "conf" / env / f"parameters_{stage}.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def conf_parameters(stage: str, env: str = "test") -> dict[str, Any]:
    """Every block of conf/base/parameters_<stage>.yml, deep-merged with conf/<env>'s file of
    that name (conf/test overrides single keys)."""
    base = parameters_file("base", stage)
    return base if env == "base" else deep_merge(base, parameters_file(env, stage))


def conf_params(stage: str, env: str = "test") -> dict[str, Any]:
    """The stage's own block of conf/base, deep-merged with conf/<env>'s overrides."""
    return conf_parameters(stage, env)[stage]


def with_changes(block: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of `block` with dotted keys replaced (a value of `...` deletes the key), e.g.
    `with_changes(block, **{"pool.per_class": 3})`."""
    out = copy.deepcopy(block)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = out
        for key in parents:
            node = node[key]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return out


def training_params(overrides: dict[str, Any] | None = None) -> TrainingParams:
    """The conf/test training block with an arm's overrides, as the hook hands it to nodes."""
    return TrainingParams.model_validate(deep_merge(conf_params("training"), overrides))


def evaluation_params(overrides: dict[str, Any] | None = None) -> EvaluationParams:
    """The conf/test evaluation block with an arm's overrides, as the hook hands it to nodes."""
    return EvaluationParams.model_validate(deep_merge(conf_params("evaluation"), overrides))


def filtering_params(overrides: dict[str, Any] | None = None) -> FilteringParams:
    """conf/test's shared `filtering` block with `overrides` deep-merged in, validated (errors
    name the dotted key)."""
    return parse(FilteringParams, deep_merge(conf_params("filtering"), overrides), "filtering")


def filter_params(overrides: dict[str, Any] | None = None) -> FilterParams:
    """conf/test's per-arm `filter` default with an arm's `overrides` deep-merged in,
    validated."""
    block = conf_parameters("filtering")["filter"]
    return parse(FilterParams, deep_merge(block, overrides), "filter")


# Class names and a tiny closed-set synthesis block (a few steps, 8/16 channels) for the
# synthesis tests: a generator trains on it in seconds.
SYNTHESIS_CLASSES = ["a", "b", "c", "d"]
TINY_SYNTHESIS: dict[str, Any] = {
    "generator": {"kind": "closed_set"},
    "num_threads": None,
    "model": {"sample_size": None, "block_out_channels": [8, 16], "layers_per_block": 1,
              "norm_num_groups": 4, "attention": False},
    "train": {"steps": 3, "batch_size": 8, "lr": 2e-3, "warmup_steps": 1, "weight_decay": 0.0,
              "ema_decay": 0.99, "label_dropout": 0.1, "hflip": True,
              "num_train_timesteps": 100, "beta_schedule": "squaredcos_cap_v2",
              "log_every": 2},
    "pretrained": {"path": None, "prompt_template": "a photo of a {class}",
                   "negative_prompt": None, "resolution": None, "batch_size": 3,
                   "guidance_scale": None, "dtype": "auto"},
    "sampling": {"scheduler": "dpmsolver++", "steps": 2, "guidance_scale": 2.0,
                 "batch_size": 5},
    "pool": {"per_class": None, "multiple_of_real": 1, "shard_size": 7},
    "grid": {"per_class": 3, "real_per_class": 1},
}


def synthesis_params(**changes: Any) -> SynthesisParams:
    """TINY_SYNTHESIS with dotted keys replaced, validated like the project's hook: the block,
    then its checks against 1×28×28 images."""
    params = parse(SynthesisParams, with_changes(TINY_SYNTHESIS, **changes), "synthesis")
    try:
        params.check_image_shape((1, 28, 28))
    except ParameterError as exc:
        raise ParameterError(f"synthesis.{exc.parameter}", exc.expected, exc.got) from None
    return params


def declared(env: str = "test", root: Path = REPO) -> Declaration:
    """The ablations `root`/conf/<env> declares (the arms the pipelines are built from)."""
    from genaug.settings import CONFIG_LOADER_ARGS

    loader = ValidatingConfigLoader(str(root / "conf"), env=None if env == "base" else env,
                                    **CONFIG_LOADER_ARGS)
    return loader.declaration()


# ----------------------------------------------------------------------------- image bundles

def bar_images(n: int, k: int, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """n uint8 1×size×size images of k classes, class y a vertical bar at columns 4y..4y+3
    (structure a generator learns in a few steps), and their labels."""
    labels = torch.arange(n) % k
    images = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    for i, y in enumerate(labels.tolist()):
        images[i, 0, :, 4 * y:4 * y + 4] = 255
    return images, labels



def patterns(per_class: int = 20, num_classes: int = 4, shape: tuple[int, int, int] = (1, 16, 16),
             seed: int = 0, noise: float = 40.0) -> dict[str, torch.Tensor]:
    """Class c = stripes (horizontal for even c, vertical for odd c) of period 2 + c // 2, with a
    random phase and noise: separable by texture, not position (the CNN pools globally)."""
    gen = torch.Generator().manual_seed(seed)
    c, h, w = shape
    n = per_class * num_classes
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    images = torch.randn((n, c, h, w), generator=gen) * noise + 60.0
    phases = torch.randint(0, 64, (n,), generator=gen)
    for i, label in enumerate(labels.tolist()):
        period = 2 + label // 2
        if label % 2 == 0:
            on = ((torch.arange(h) + phases[i]) // (period // 2 + period % 2)) % 2 == 0
            images[i, :, on, :] += 150.0
        else:
            on = ((torch.arange(w) + phases[i]) // (period // 2 + period % 2)) % 2 == 0
            images[i, :, :, on] += 150.0
    return {"images": images.clamp(0, 255).round().to(torch.uint8), "labels": labels}


def names(k: int = 4) -> list[str]:
    """Class names for k classes."""
    return [f"class_{i}" for i in range(k)]


# ----------------------------------------------------------------------------- the notebook


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


def notebook_outputs(notebook: Any) -> list[Any]:
    """Every output of the notebook's code cells, in order."""
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def notebook_text(notebook: Any) -> str:
    """All text the notebook showed (Markdown, plain text, streams), joined."""
    parts = []
    for output in notebook_outputs(notebook):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.extend(data.get(kind, "") for kind in ("text/markdown", "text/plain"))
    return "\n".join(parts)


def notebook_images(notebook: Any) -> list[Any]:
    """The notebook's PNG outputs (figures)."""
    return [o for o in notebook_outputs(notebook) if "image/png" in o.get("data", {})]


def notebook_errors(notebook: Any) -> list[str]:
    """`ename: evalue` of every error output."""
    return [f"{o.ename}: {o.evalue}" for o in notebook_outputs(notebook)
            if o.output_type == "error"]
