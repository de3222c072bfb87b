"""What a user sees when `kedro run` cannot start: one message, a hint, the traceback on request."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import KedroProject, make_project

KEDRO = str(Path(sys.executable).parent / "kedro")
MAX_LINES = 15


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> KedroProject:
    """A freshly cloned project: raw data, nothing run yet (runs that cannot start keep it so)."""
    return make_project(tmp_path_factory.mktemp("cli") / "project")


def _outputs(root: Path) -> list[str]:
    """Files under data/ (os.walk does not enter the data/01_raw link)."""
    return [os.path.join(folder, name) for folder, _, names in os.walk(root / "data")
            for name in names]


def _kedro(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`kedro <args>` in the project, as typed in an 120-column terminal."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "120"}
    env.pop("KEDRO_ENV", None)
    return subprocess.run([KEDRO, *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def _lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def test_missing_upstream_prints_one_message_naming_the_command(fresh: KedroProject) -> None:
    result = _kedro(fresh.root, "run", "--pipeline", "synthesis")
    output = "\n".join(_lines(result))
    assert result.returncode == 1, output
    assert len(_lines(result)) < MAX_LINES, output
    assert ("Error: class_names, real_train have no saved version: "
            "run `kedro run --pipeline data_processing` first.") in output
    assert "Hint: each environment keeps its own outputs" in output
    assert "Full traceback: logs/last_error.log" in output
    assert "Traceback" not in output and "DeprecationWarning" not in output
    assert _outputs(fresh.root) == []
    log = (fresh.root / "logs" / "last_error.log").read_text()
    assert "Traceback (most recent call last)" in log and "MissingInputError" in log


def test_bad_parameter_prints_one_message_and_a_hint(fresh: KedroProject) -> None:
    result = _kedro(fresh.root, "run", "--params", "drop_30.filter.drop_fraction=1.0")
    output = "\n".join(_lines(result))
    assert result.returncode == 1, output
    assert len(_lines(result)) < MAX_LINES, output
    key = re.escape("Error: Parameter 'drop_30.filter.drop_fraction': expected ")
    assert re.search(rf"^{key}.+, got 1\.0\.$", output, re.MULTILINE), output
    assert "Hint: parameters come from conf/base/parameters*.yml" in output
    assert "Traceback" not in output
    assert _outputs(fresh.root) == []
    assert "ParameterError" in (fresh.root / "logs" / "last_error.log").read_text()


def test_seeds_as_a_count_pass_through_the_command_line(tmp_path: Path) -> None:
    # Kedro splits --params on commas, so a count is how seeds travel on the command line: a
    # valid one runs, an invalid one is refused by the training schema, naming the key.
    project = make_project(tmp_path / "project")
    bad = _kedro(project.root, "run", "--params", "training.seeds=0")
    assert bad.returncode == 1
    assert "Error: Parameter 'training.seeds': expected a number of seeds >= 1" in bad.stderr
    ok = _kedro(project.root, "run", "--env", "test", "--pipeline", "data_processing",
                "--params", "training.seeds=5")
    assert ok.returncode == 0, ok.stderr[-2000:]


def test_traceback_flag_shows_the_full_traceback(fresh: KedroProject) -> None:
    result = _kedro(fresh.root, "run", "--traceback", "--params",
                    "drop_30.filter.drop_fraction=1.0")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "ParameterError" in output and "Traceback" in output
    assert "Full traceback:" not in output


def test_unknown_pipeline_prints_one_message(fresh: KedroProject) -> None:
    result = _kedro(fresh.root, "run", "--pipeline", "synthesys")
    output = "\n".join(_lines(result))
    assert result.returncode == 1, output
    assert len(_lines(result)) < MAX_LINES, output
    assert "Error: Failed to find the pipeline named 'synthesys'." in output
    assert "Did you mean one of these instead? synthesis" in output
    assert "Hint: `kedro registry list` lists the pipelines." in output


def test_missing_raw_file_ends_the_run_log_with_one_message_naming_it(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    (project.root / "data" / "01_raw").unlink()  # a clone whose raw files are gone
    (project.root / "data" / "01_raw" / "fashion-mnist").mkdir(parents=True)
    result = _kedro(project.root, "run", "--pipeline", "data_processing", "--env", "test")
    lines = _lines(result)
    output = "\n".join(lines)
    assert result.returncode == 1, output
    # The node started (Kedro's run log: the MLflow run, its inputs loading), then one message.
    assert len(lines) < 2 * MAX_LINES, output
    assert "Traceback" not in output and "│" not in output  # no frames
    error, hint, log = result.stderr.strip().splitlines()[-3:]
    assert error == ("Error: Raw file 'data/01_raw/fashion-mnist/train-images-idx3-ubyte.gz' "
                     "is missing: expected an IDX file there.")
    assert hint.startswith("Hint: the raw inputs are `raw_train` and `raw_test` in "
                           "conf/base/catalog.yml")
    assert log.startswith("Full traceback: logs/last_error.log")
    assert _outputs(project.root) == []
