"""Parameter validation that fails early with the parameter's name and what was expected."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def require(params: Mapping[str, Any], key: str, prefix: str) -> Any:
    """Return params[key], or fail naming `prefix.key` when it is missing."""
    if not isinstance(params, Mapping):
        raise ParameterError(prefix, "a mapping of parameters", params)
    if key not in params:
        raise ParameterError(f"{prefix}.{key}", "a value (the parameter is missing)", None)
    return params[key]


def check_int(value: Any, name: str, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Check that value is an int (not bool) within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(name, "an integer", value)
    if minimum is not None and value < minimum:
        raise ParameterError(name, f"an integer >= {minimum}", value)
    if maximum is not None and value > maximum:
        raise ParameterError(name, f"an integer <= {maximum}", value)
    return value


def check_float(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """Check that value is a real number within the given (open or closed) bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(name, "a number", value)
    value = float(value)
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or (value < high if high_open else value <= high)
    if not (lo_ok and hi_ok):
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        raise ParameterError(name, f"a number in {lo or '(-inf'}, {hi or 'inf)'}", value)
    return value


def check_choice(value: Any, name: str, choices: Iterable[str]) -> str:
    """Check that value is one of the allowed names."""
    options = list(choices)
    if value not in options:
        raise ParameterError(name, f"one of {options}", value)
    return value


def check_str_template(value: Any, name: str, placeholder: str) -> str:
    """Check that value is a string holding the given `{placeholder}`."""
    if not isinstance(value, str) or "{" + placeholder + "}" not in value:
        raise ParameterError(name, f"a string containing '{{{placeholder}}}'", value)
    return value
