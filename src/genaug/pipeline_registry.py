"""Project pipelines: every stage alone, the ablations, reporting, and `__default__`."""

import os
from pathlib import Path

from kedro.framework.project import settings
from kedro.pipeline import Pipeline
from kedro.utils import find_kedro_project

from genaug.config import ValidatingConfigLoader, run_loader
from genaug.pipelines.ablations import create_pipelines
from genaug.schemas.ablations import Declaration


def run_declaration() -> Declaration:
    """The ablations declared by the configuration this process runs.

    That is the latest session's config loader (its environment and `--params`); without a
    session (`kedro registry list`), conf/ of the project in the working directory under
    `KEDRO_ENV` (Kedro's `--env` variable; unset: `local`).
    """
    loader = run_loader()
    if loader is None:
        root = find_kedro_project(Path.cwd()) or Path.cwd()
        loader = ValidatingConfigLoader(conf_source=str(root / settings.CONF_SOURCE),
                                        env=os.environ.get("KEDRO_ENV") or None,
                                        **settings.CONFIG_LOADER_ARGS)
    return loader.declaration()


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines by name (composed in `genaug.pipelines.ablations`)."""
    return create_pipelines(run_declaration())
