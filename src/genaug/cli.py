"""Project commands added to `kedro`: `kedro plan` shows what a rerun would recompute."""

from __future__ import annotations

from pathlib import Path

import click
from kedro.framework.cli.utils import env_option
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession

from genaug.hooks import FINGERPRINTS
from genaug.reruns import FingerprintStore, make_plan, output_records


@click.group(name="genaug")
def cli() -> None:
    """genaug's project commands."""


@cli.command()
@click.option("--pipeline", "-p", "pipeline_name", default="__default__", show_default=True,
              help="Registered pipeline to plan.")
@env_option
def plan(pipeline_name: str, env: str | None) -> None:
    """Print what `kedro run --only-missing-outputs` would run (and why) and reuse; run nothing."""
    if pipeline_name not in pipelines:
        raise click.BadParameter(f"expected one of {sorted(pipelines)}", param_hint="--pipeline")
    project = Path.cwd()
    with KedroSession.create(project_path=project, env=env) as session:
        context = session.load_context()
        catalog = context.catalog
        pipeline = pipelines[pipeline_name]
        stored = FingerprintStore(project / FINGERPRINTS).read()
        current = output_records(pipeline, catalog, stored)
        click.echo(make_plan(pipeline, catalog, current, stored).describe())
