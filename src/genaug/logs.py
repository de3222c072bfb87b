"""The console log handler: rich on a terminal, plain lines everywhere else.

Rich wraps every record at the console width (80 columns when stdout is a file or a pipe) and
a notebook shows its colour codes raw, so `make run > run.log` and notebook cells get one plain
line per record instead. conf/logging.yml names `console_handler` as its handler factory.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

PLAIN_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is an interactive terminal (not a file, a pipe or a notebook cell)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def console_handler(stream: TextIO | None = None, **rich_options: Any) -> logging.Handler:
    """Kedro's RichHandler (with `rich_options`) on a terminal; else a plain stream handler.

    Both write to stdout, as rich does, and both capture Python warnings into logging (the
    `py.warnings` logger, which conf/logging.yml sends to warnings.log).
    """
    out = sys.stdout if stream is None else stream
    if is_terminal(out):
        from kedro.logging import RichHandler

        return RichHandler(**rich_options)
    logging.captureWarnings(True)
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    return handler
