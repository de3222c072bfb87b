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
from genaug.tracking.choices import ResolvedChoicesHook

# PlainLogsHook first: plain console lines off a terminal before anything else logs.
# InterruptsHook (SIGINT/SIGTERM end the MLflow runs KILLED and never cut a save) is registered
# before MissingInputsHook: both run first, the later registered first, so a run that fails its
# checks never installs the signal handlers.
HOOKS = (PlainLogsHook(), ProjectMlflowStoreHook(), InterruptsHook(), MissingInputsHook(),
         EffectiveParamsHook(), StaleOutputsHook())
# MLflow (genaug/tracking/): one child run per arm; the generator and verdicts on the parent.
HOOKS += (ArmRunsHook(), ParentRunHook())
# The run's `auto` choices (device, precision, feature extractor): logged, and tagged in MLflow.
HOOKS += (ResolvedChoicesHook(),)

# Parameters come out of the loader validated against genaug.schemas, typed and arm-merged.
CONFIG_LOADER_CLASS = ValidatingConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/<env> parameters deep-merge into conf/base, so an environment overrides single keys.
    "merge_strategy": {"parameters": "soft"},
}
# ValidatingConfigLoader also reads conf/local (yours, gitignored: data, weights, overrides) on
# top of every environment, `--env gpu` included; the `test` fixture never reads it.
