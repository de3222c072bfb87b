"""Project commands for `kedro`: `run` with one-message input errors, and `plan`.

`kedro run` is Kedro's own command (same options, same behaviour) except for three things: an
input error (a bad parameter, a missing or corrupt raw file, a saved input that was never
produced, saved data that does not fit the configuration, an unknown pipeline name) prints one
message and a hint and exits with status 1, its full traceback written to `logs/last_error.log`
(`--traceback` shows it on screen instead); SIGINT (Ctrl-C) or SIGTERM during the run ends its
MLflow runs as KILLED and exits with status 130 or 143 (`genaug.tracking.interrupts`); and
`--pipeline NAME`, deprecated upstream but the form the docs use, is passed on as
`--pipelines NAME` so it keeps working without a warning.
"""

from __future__ import annotations

import traceback as tb
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.cli.utils import env_option
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.io.core import DatasetError
from kedro.utils import find_kedro_project

from genaug.common.bundles import BundleError
from genaug.common.validation import ParameterError
from genaug.hooks import fingerprint_path
from genaug.preflight import MissingInputError
from genaug.reruns import FingerprintStore, make_plan, output_records
from genaug.tracking.interrupts import RunInterrupted, end_interrupted_runs

TRACEBACK_LOG = Path("logs") / "last_error.log"
# The project's datasets that read raw data: their errors name the file and what is wrong.
RAW_DATASET_MODULES = ("genaug.datasets.cifar", "genaug.datasets.idx",
                       "genaug.datasets.image_folder", "genaug.datasets.torchvision_images")
# How KedroSession.run words a pipeline name that is not registered (a typo in --pipeline).
UNKNOWN_PIPELINE = "Failed to find the pipeline named"
HINTS = {
    ParameterError: "parameters come from conf/base/parameters*.yml, overridden by "
                    "conf/<env>/, then conf/local/, then --params (docs/configuration.md: "
                    "\"Parameters are checked before anything runs\").",
    MissingInputError: "each environment keeps its own outputs (`data_root` in "
                       "conf/<env>/globals.yml): another environment's runs do not count.",
    BundleError: "a saved input was made with other settings: rerun the pipeline that "
                 "produces it (`--only-missing-outputs` reruns exactly what a change made stale).",
    DatasetError: "the raw inputs are `raw_train` and `raw_test` in conf/base/catalog.yml "
                  "(override them in conf/local/catalog.yml); `git checkout data/01_raw` "
                  "restores the shipped Fashion-MNIST files.",
}


@click.group(name="genaug")
def cli() -> None:
    """genaug's project commands."""


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and the errors it was raised from or while handling, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _raised_in(error: BaseException, modules: tuple[str, ...]) -> bool:
    """Whether the innermost frame of the error's traceback belongs to one of `modules`."""
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and frame.tb_frame.f_globals.get("__name__") in modules


def input_error(error: BaseException) -> tuple[str, str] | None:
    """(message, hint) when the error is one of the project's input errors, else None."""
    for link in _chain(error):
        for kind in (ParameterError, MissingInputError, BundleError):
            if isinstance(link, kind):
                return str(link), HINTS[kind]
        if isinstance(link, DatasetError) and _raised_in(link, RAW_DATASET_MODULES):
            return str(link), HINTS[DatasetError]
        if isinstance(link, ValueError) and str(link).startswith(UNKNOWN_PIPELINE):
            return " ".join(str(link).split()), "`kedro registry list` lists the pipelines."
    return None


def _fail(error: BaseException, message: str, hint: str) -> NoReturn:
    """Print the message and hint, keep the full traceback in a log file, exit with status 1."""
    project = find_kedro_project(Path.cwd()) or Path.cwd()
    log = project / TRACEBACK_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(tb.format_exception(error)))
    shown = log.relative_to(Path.cwd()) if log.is_relative_to(Path.cwd()) else log
    click.secho(f"Error: {message}", fg="red", err=True)
    click.echo(f"Hint: {hint}", err=True)
    click.echo(f"Full traceback: {shown} (or run again with --traceback)", err=True)
    raise click.exceptions.Exit(1)


def _run(traceback: bool, **options: Any) -> Any:
    """Kedro's `run`, with the project's input errors shown as one message and a hint."""
    if options.get("pipeline") and not options.get("pipelines"):
        options["pipelines"], options["pipeline"] = [options["pipeline"]], None
    try:
        return kedro_run.callback(**options)
    except RunInterrupted as stop:  # SIGINT/SIGTERM (genaug.tracking.interrupts)
        end_interrupted_runs()
        click.echo(f"Stopped: {stop}; MLflow runs ended as KILLED.", err=True)
        raise click.exceptions.Exit(stop.exit_status) from None
    except Exception as error:
        found = None if traceback else input_error(error)
        if found is None:
            raise
        _fail(error, *found)


run = click.Command(
    name="run",
    callback=_run,
    params=[*kedro_run.params,
            click.Option(["--traceback"], is_flag=True,
                         help="On an input error, show the full traceback instead of one "
                              f"message and writing it to {TRACEBACK_LOG}.")],
    help=f"{kedro_run.help}\n\nAn input error (bad parameter, bad or missing raw file, an input "
         "never produced) prints one message and a hint; see --traceback.",
    short_help=kedro_run.short_help,
    context_settings=kedro_run.context_settings,
)
cli.add_command(run)


@cli.command()
@click.option("--pipeline", "-p", "pipeline_name", default="__default__", show_default=True,
              help="Registered pipeline to plan.")
@env_option
def plan(pipeline_name: str, env: str | None) -> None:
    """Print what `kedro run --only-missing-outputs` would run (and why) and reuse; run nothing."""
    with KedroSession.create(project_path=Path.cwd(), env=env) as session:
        # The session's config loader comes first: the pipelines are built from what it
        # declares (`genaug.pipeline_registry.run_declaration`).
        context = session.load_context()
        if pipeline_name not in pipelines:
            raise click.BadParameter(f"expected one of {sorted(pipelines)}",
                                     param_hint="--pipeline")
        catalog = context.catalog
        pipeline = pipelines[pipeline_name]
        stored = FingerprintStore(fingerprint_path(context)).read()
        current = output_records(pipeline, catalog, stored)
        click.echo(make_plan(pipeline, catalog, current, stored).describe())
