"""The project's config loader: conf/local layered over every environment, and parameters that
come out validated, typed and arm-merged."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from kedro.framework import project
from omegaconf import OmegaConf

from genaug.schemas.ablations import Declaration
from genaug.schemas.project import ValidatedParameters, validate_parameters

# The config loader of the latest Kedro session in this process (`run_loader`).
_RUN_LOADER: ValidatingConfigLoader | None = None


class ValidatingConfigLoader(OmegaConfigLoader):
    """`OmegaConfigLoader` that layers the user's overlay and validates `parameters`.

    **Overlay.** Kedro reads `conf/base` plus one environment. genaug's presets (`--env gpu`)
    are environments, and a user's data, weights and overrides live in the gitignored
    `conf/local` (the overlay): so the overlay is read on top of *every* run environment,
    `conf/base` < `conf/<env>` < `conf/local` < `--params`, for every key but `globals` (each
    environment keeps its own `data_root` and MLflow experiment, so environments never write
    over each other). Environments in `hermetic_envs` (the test fixture, `test`) never read it.
    Parameters deep-merge (as base and env do); other keys replace whole top-level entries.

    **Validation.** Every parameter block is checked against its schema as soon as anything
    reads the parameters (a run, a notebook, kedro-viz), so a bad, unknown or misspelt key
    fails in seconds, naming its dotted path, before any node runs or writes. Each block comes
    out as a frozen schema object and each arm's blocks as its effective ones. Kedro 1.7
    instantiates pydantic-typed node parameters from this tree (`kedro.validation`), finds
    them already instances and hands nodes these very objects: nothing is checked twice.
    """

    overlay_env = "local"
    hermetic_envs = ("test",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _publish(self)

    def __getitem__(self, key: str) -> Any:
        """Load a configuration with the overlay on top; `parameters` validated and typed."""
        if key != "parameters":
            return self._layered(key)
        return self.validated().tree()

    def validated(self) -> ValidatedParameters:
        """The validated parameters, with the declared ablations expanded."""
        return validate_parameters(self._layered("parameters"))

    def declaration(self) -> Declaration:
        """The ablations this configuration declares (the pipelines are built from them)."""
        declaration = self.validated().declaration
        assert declaration is not None
        return declaration

    def _layered(self, key: str) -> Any:
        """A configuration with the overlay on top."""
        value = super().__getitem__(key)
        overlay = self.overlay(key)
        if overlay:
            value = _layer(value, overlay, deep=self.merge_strategy.get(key) == "soft")
        return value

    def overlay_path(self) -> Path | None:
        """The overlay folder this run reads on top of its environment, or None."""
        run_env = self.env or self.default_run_env
        if run_env in (self.overlay_env, self.base_env, *self.hermetic_envs):
            return None
        path = Path(self.conf_source) / self.overlay_env
        return path if path.is_dir() else None

    def overlay(self, key: str) -> dict[str, Any]:
        """The overlay's configuration for `key` (empty when not read or not there)."""
        path = self.overlay_path()
        if key == "globals" or key in self or path is None or key not in self.config_patterns:
            return {}
        return self.load_and_merge_dir_config(str(path), self.config_patterns[key], key, set(),
                                              read_environment_variables=key == "credentials")


def _layer(base: Mapping[str, Any], top: Mapping[str, Any], *, deep: bool) -> dict[str, Any]:
    """`top` over `base`: merged key by key (deep) or whole top-level entries replaced."""
    if deep:
        return OmegaConf.to_container(OmegaConf.merge(base, top))
    return {**base, **top}


def _identity(loader: ValidatingConfigLoader) -> tuple[str, str | None, str]:
    """What makes two loaders read the same configuration."""
    return (str(Path(loader.conf_source).resolve()), loader.env, repr(loader.runtime_params))


def _publish(loader: ValidatingConfigLoader) -> None:
    """Make `loader` the run's loader; pipelines built for another configuration are rebuilt.

    Kedro calls `register_pipelines()` without the run's environment, but every session
    (`kedro run`, `kedro plan`, kedro-viz, `kedro jupyter`) creates its config loader before it
    first reads `pipelines`: so the registry builds from the configuration the run reads.
    """
    global _RUN_LOADER
    previous, _RUN_LOADER = _RUN_LOADER, loader
    changed = previous is None or _identity(previous) != _identity(loader)
    if changed and project.PACKAGE_NAME:
        project.pipelines.configure(f"{project.PACKAGE_NAME}.pipeline_registry")


def run_loader() -> ValidatingConfigLoader | None:
    """The config loader of the latest Kedro session in this process (None: no session yet)."""
    return _RUN_LOADER
