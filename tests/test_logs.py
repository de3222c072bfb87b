"""Log records are plain, unwrapped lines when stdout is not a terminal (a file, a pipe, a
notebook), rich on a terminal."""

from __future__ import annotations

import io
import logging
import logging.config

import pytest
import yaml
from rich.logging import RichHandler

from genaug import settings
from genaug.logs import PlainLogsHook, plain_logs_off_terminal
from tests.support import REPO

LONG = "a record longer than eighty columns " * 5


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def project_logging():
    """conf/logging.yml applied to the root logger; the previous handlers restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logging.config.dictConfig(yaml.safe_load((REPO / "conf/logging.yml").read_text()))
    yield root
    logging.captureWarnings(False)
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_off_a_terminal_each_record_is_one_plain_line(project_logging) -> None:
    out = io.StringIO()
    plain_logs_off_terminal(out)
    assert not any(isinstance(h, RichHandler) for h in project_logging.handlers)
    logging.getLogger("genaug.test").warning(LONG)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(LONG)  # one line, not wrapped at 80 columns
    assert " WARNING  genaug.test: " in lines[0]
    assert "\x1b[" not in out.getvalue()


def test_on_a_terminal_rich_stays(project_logging) -> None:
    plain_logs_off_terminal(_Terminal())
    assert any(isinstance(h, RichHandler) for h in project_logging.handlers)


def test_the_project_registers_the_hook_first() -> None:
    assert isinstance(settings.HOOKS[0], PlainLogsHook)
