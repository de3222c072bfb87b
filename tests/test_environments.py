"""Every shipped configuration environment writes under its own data root and MLflow experiment
(that its parameters validate is tests/schemas/test_project.py's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kedro.config import OmegaConfigLoader

from genaug.settings import CONFIG_LOADER_ARGS
from tests.support import REPO

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
