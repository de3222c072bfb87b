"""Project settings: config loader and hooks (kedro-mlflow's hooks register themselves)."""

from kedro.config import OmegaConfigLoader

from genaug.hooks import ParameterCheckHook, ProjectMlflowStoreHook, StaleOutputsHook

HOOKS = (ProjectMlflowStoreHook(), ParameterCheckHook(), StaleOutputsHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/<env> parameters deep-merge into conf/base, so an environment overrides single keys.
    "merge_strategy": {"parameters": "soft"},
}
