"""The error every parameter check raises: the dotted parameter, what was expected, what came."""

from __future__ import annotations

from typing import Any


class ParameterError(ValueError):
    """A parameter has a value the project cannot use."""

    def __init__(self, parameter: str, expected: str, got: Any, *,
                 message: str | None = None) -> None:
        self.parameter = parameter
        self.expected = expected
        self.got = got
        super().__init__(f"Parameter '{parameter}': "
                         + (message or f"expected {expected}, got {got!r}."))
