"""Console logs: rich on a terminal, plain lines everywhere else.

Rich wraps every record at the console width (80 columns when stdout is a file or a pipe) and
a notebook shows its colour codes raw, so `make run > run.log` and notebook cells get one plain
line per record instead. Kedro only accepts handler classes from `logging` and `kedro.logging`
in conf/logging.yml, so the file keeps Kedro's RichHandler and `PlainLogsHook` swaps it for a
plain handler as soon as a project context exists, when stdout is not a terminal.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from kedro.framework.hooks import hook_impl
from rich.logging import RichHandler

PLAIN_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is an interactive terminal (not a file, a pipe or a notebook cell)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def plain_logs_off_terminal(stream: TextIO | None = None) -> None:
    """Replace the root logger's rich handlers by plain line handlers unless stdout (or
    `stream`) is a terminal. Python warnings stay captured into logging (`py.warnings`)."""
    out = sys.stdout if stream is None else stream
    if is_terminal(out):
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, RichHandler):
            plain = logging.StreamHandler(out)
            plain.setLevel(handler.level)
            plain.setFormatter(logging.Formatter(PLAIN_FORMAT))
            root.removeHandler(handler)
            root.addHandler(plain)


class PlainLogsHook:
    """Plain console logs off a terminal, from the moment a project context exists."""

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Swap rich console handlers for plain ones when stdout is not a terminal."""
        plain_logs_off_terminal()
