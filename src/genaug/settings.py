"""Project settings: config loader and hooks (kedro-mlflow's hooks register themselves)."""

from genaug.config import ValidatingConfigLoader
from genaug.hooks import (
    EffectiveParamsHook,
    MissingInputsHook,
    ProjectMlflowStoreHook,
    StaleOutputsHook,
)
from genaug.logs import PlainLogsHook
from genaug.tracking import ArmRunsHook, InterruptsHook, ParentRunHook

# PlainLogsHook first: plain console lines off a terminal before anything else logs.
HOOKS = (PlainLogsHook(), ProjectMlflowStoreHook(), MissingInputsHook(), EffectiveParamsHook(),
         StaleOutputsHook())
# MLflow (genaug/tracking/): one child run per arm; the generator and verdicts on the parent;
# SIGINT/SIGTERM end them KILLED and never cut a save.
HOOKS += (ArmRunsHook(), ParentRunHook(), InterruptsHook())

# Parameters come out of the loader validated against genaug.schemas, typed and arm-merged.
CONFIG_LOADER_CLASS = ValidatingConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/<env> parameters deep-merge into conf/base, so an environment overrides single keys.
    "merge_strategy": {"parameters": "soft"},
}
