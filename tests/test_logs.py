"""Log records are plain, unwrapped lines when stdout is not a terminal (a file, a pipe, a
notebook), rich on a terminal."""

from __future__ import annotations

import io
import logging
import logging.config
from pathlib import Path

import yaml
from kedro.logging import RichHandler

from genaug.logs import console_handler

REPO = Path(__file__).resolve().parents[1]
LONG = "a record longer than eighty columns " * 5


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_file_or_pipe_gets_plain_handler_and_a_terminal_rich() -> None:
    try:
        assert not isinstance(console_handler(io.StringIO()), RichHandler)
        assert isinstance(console_handler(_Terminal()), RichHandler)
    finally:
        logging.captureWarnings(False)


def test_project_logging_config_writes_one_plain_line_per_record(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    config = yaml.safe_load((REPO / "conf/logging.yml").read_text())
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        logging.getLogger("genaug.test").warning(LONG)
    finally:
        logging.captureWarnings(False)
        root.handlers[:], root.level = saved[0], saved[1]
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(LONG)  # one line, not wrapped at 80 columns
    assert "\x1b[" not in out.getvalue()
    assert " WARNING  genaug.test: " in lines[0]
