"""Every shipped configuration environment holds parameters the pipelines accept."""

from __future__ import annotations

import pytest
from kedro.config import OmegaConfigLoader

from genaug.pipelines import ablation_threshold, ablation_training
from genaug.pipelines.parameter_checks import check_pipeline_parameters
from genaug.settings import CONFIG_LOADER_ARGS

from .conftest import REPO


@pytest.mark.parametrize("env", ["base", "test", "gpu"])
def test_environment_parameters_pass_every_check(env: str) -> None:
    loader = OmegaConfigLoader(str(REPO / "conf"), env=None if env == "base" else env,
                               **CONFIG_LOADER_ARGS)
    params = loader["parameters"]

    def load(name: str):
        value = params
        for key in name.removeprefix("params:").split("."):
            value = value[key]
        return value

    both = ablation_threshold.create_pipeline() + ablation_training.create_pipeline()
    check_pipeline_parameters(both, load)
