"""The project's config loader: parameters come out validated, typed and arm-merged."""

from __future__ import annotations

from typing import Any

from kedro.config import OmegaConfigLoader

from genaug.pipelines.ablations import ABLATION_ARMS, ALL_ARMS, REAL_CURVE_ARMS
from genaug.schemas.project import validate_parameters


class ValidatingConfigLoader(OmegaConfigLoader):
    """`OmegaConfigLoader` whose `parameters` is the validated tree (`genaug.schemas`).

    Every block is checked against its schema as soon as anything reads the parameters (a run,
    a notebook, kedro-viz), so a bad, unknown or misspelt key fails in seconds, naming its
    dotted path, before any node runs or writes. Each block comes out as a frozen schema
    object and each arm's blocks as its effective ones (stage defaults deep-merged with the
    arm's keys). Kedro 1.7 instantiates pydantic-typed node parameters from this tree
    (`kedro.validation`), finds them already instances and hands nodes these very objects:
    nothing is merged or checked twice.
    """

    def __getitem__(self, key: str) -> Any:
        """Load a configuration; `parameters` validated and typed."""
        value = super().__getitem__(key)
        if key != "parameters":
            return value
        return validate_parameters(value, ALL_ARMS, REAL_CURVE_ARMS, ABLATION_ARMS).tree()
