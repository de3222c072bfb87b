"""Every shipped configuration environment holds parameters the schemas accept."""

from __future__ import annotations

import pytest
from kedro.config import OmegaConfigLoader

from genaug.pipelines.ablations import ALL_ARMS
from genaug.schemas.project import ARM_STAGES, validate_parameters
from genaug.settings import CONFIG_LOADER_ARGS

from .conftest import REPO


@pytest.mark.parametrize("env", ["base", "test", "gpu"])
def test_environment_parameters_validate(env: str) -> None:
    loader = OmegaConfigLoader(str(REPO / "conf"), env=None if env == "base" else env,
                               **CONFIG_LOADER_ARGS)
    validated = validate_parameters(loader["parameters"], ALL_ARMS)
    arm_blocks = validated.arm_blocks()
    assert set(arm_blocks) == {f"params:{arm}.{stage}" for arm in ALL_ARMS
                               for stage in ARM_STAGES}
    assert arm_blocks["params:drop_30.filter"].drop_fraction == 0.3
    assert arm_blocks["params:sequential.training"].strategy == "sequential"
