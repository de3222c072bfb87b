"""Every shipped configuration environment holds parameters the schemas accept, and writes
under its own data root and MLflow experiment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kedro.config import OmegaConfigLoader

from genaug.schemas.project import ARM_STAGES, validate_parameters
from genaug.settings import CONFIG_LOADER_ARGS

from .conftest import REPO


@pytest.mark.parametrize("env", ["base", "test", "gpu"])
def test_environment_parameters_validate(env: str) -> None:
    loader = OmegaConfigLoader(str(REPO / "conf"), env=None if env == "base" else env,
                               **CONFIG_LOADER_ARGS)
    validated = validate_parameters(loader["parameters"])
    arm_blocks = validated.arm_blocks()
    declaration = validated.declaration
    assert declaration is not None
    REAL_CURVE_ARMS = declaration.curve
    assert {f"params:{arm}.{stage}" for arm in declaration.all_arms
            for stage in ARM_STAGES} <= set(arm_blocks)
    assert arm_blocks["params:drop_30.filter"].drop_fraction == 0.3
    assert arm_blocks["params:sequential.training"].strategy == "sequential"
    curve = [arm_blocks[f"params:{arm}.training"].extra_real_per_class for arm in REAL_CURVE_ARMS]
    reserve = validated.blocks["params:data_processing"].reserve_per_class
    assert curve == sorted(set(curve)) and curve[-1] <= reserve  # increasing, within the reserve


ROOTS = {"base": ("data", "genaug"), "test": ("data/test", "genaug-test"),
         "gpu": ("data/gpu", "genaug-gpu")}


def _paths(entry: object, key: str = "") -> Iterator[tuple[str, str]]:
    """(key, value) of every path-like setting in a catalog entry, nested datasets included."""
    if isinstance(entry, dict):
        for name, value in entry.items():
            yield from _paths(value, name)
    elif isinstance(entry, str) and (key.endswith("filepath") or key in ("path", "root")):
        yield key, entry


@pytest.mark.parametrize("env", sorted(ROOTS))
def test_environment_writes_under_its_own_root_and_experiment(env: str) -> None:
    loader = OmegaConfigLoader(str(REPO / "conf"), env=env, **CONFIG_LOADER_ARGS,
                               config_patterns={"mlflow": ["mlflow*"]})
    root, experiment = ROOTS[env]
    paths = [(name, key, value) for name, entry in loader["catalog"].items()
             for key, value in _paths(entry)]
    assert len(paths) > 20
    for name, key, value in paths:
        if name.startswith("raw_"):  # raw data is shared by every environment
            assert value.startswith("data/01_raw/"), (name, key, value)
        else:
            assert value.startswith(f"{root}/0"), (name, key, value)
    assert loader["mlflow"]["tracking"]["experiment"]["name"] == experiment
