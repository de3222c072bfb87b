"""Base of every parameter schema: strict, closed to unknown keys, errors with dotted names."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import to_jsonable_python

from genaug.common.validation import ParameterError

# Pydantic's message prefixes, turned into the "expected ..." half of a ParameterError.
_PREFIXES = ("Input should be ", "Value error, ")


class Schema(BaseModel):
    """A typed, immutable parameter block: unknown keys and loose types are errors.

    Strict mode: no silent coercion ("3" is not an int, true is not 1), except that an int is
    accepted where a float is expected (YAML writes `lr: 1` as an int).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def to_dict(self) -> dict[str, Any]:
        """The block as plain, JSON-able Python values (for the catalog and MLflow)."""
        return self.model_dump(mode="json")

    def result_view(self) -> dict[str, Any]:
        """The keys that can change a saved output: fields marked `affects_results=False`
        (inference batch sizes, thread counts, log intervals) are left out."""
        view: dict[str, Any] = {}
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and extra.get("affects_results") is False:
                continue
            value = getattr(self, name)
            view[name] = (value.result_view() if isinstance(value, Schema)
                          else to_jsonable_python(value))
        return view


def parse(schema: type[Schema], value: Any, prefix: str) -> Schema:
    """Validate `value` as `schema`; on failure raise a ParameterError naming the dotted key."""
    try:
        return schema.model_validate(value)
    except ValidationError as exc:
        raise to_parameter_error(exc, schema, prefix) from None


def to_parameter_error(exc: ValidationError, schema: type[BaseModel],
                       prefix: str) -> ParameterError:
    """The first error of a pydantic ValidationError as a ParameterError with the full path."""
    err = exc.errors()[0]
    loc = [str(part) for part in err["loc"] if not isinstance(part, int)]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, ParameterError):  # a cross-field check named its own key
        path = ".".join([prefix, *loc, cause.parameter] if cause.parameter else [prefix, *loc])
        return ParameterError(path, cause.expected, cause.got)
    path = ".".join([prefix, *loc])
    if err["type"] == "extra_forbidden":
        hint = _did_you_mean(schema, loc)
        return ParameterError(path, f"a known key{hint}", err.get("input"),
                              message=f"unknown key{hint}.")
    if err["type"] == "missing":
        return ParameterError(path, "a value (the parameter is missing)", None)
    message = err["msg"]
    for start in _PREFIXES:
        if message.startswith(start):
            message = message[len(start):]
    return ParameterError(path, message, err.get("input"))


def _did_you_mean(schema: type[BaseModel], loc: list[str]) -> str:
    """' (did you mean `x`?)' for the valid key of the same block closest to the unknown one."""
    model: Any = schema
    for part in loc[:-1]:
        field = _keys(model).get(part)
        model = _model_of(field.annotation) if field is not None else None
        if model is None:
            return ""
    keys = list(_keys(model))
    close = difflib.get_close_matches(loc[-1], keys, n=1, cutoff=0.5)
    valid = ", ".join(keys)
    return f" (did you mean `{close[0]}`?)" if close else f"; valid keys: {valid}"


def _keys(model: type[BaseModel]) -> dict[str, Any]:
    """A model's fields by the key written in YAML (the alias where one is set)."""
    return {info.alias or name: info for name, info in model.model_fields.items()}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (`Model`, `Model | None`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def deep_merge(defaults: Mapping[str, Any] | None,
               overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Deep-merge overrides into defaults (overrides win; nested mappings merge key by key)."""
    merged: dict[str, Any] = dict(defaults or {})
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
