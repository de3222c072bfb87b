"""Arms declared in parameters: grid expansion, validation, and pipelines built from them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession

from genaug.common.validation import ParameterError
from genaug.config import ValidatingConfigLoader
from genaug.pipeline_registry import run_declaration
from genaug.pipelines.ablations import create_pipelines
from genaug.schemas.project import validate_parameters
from genaug.settings import CONFIG_LOADER_ARGS
from tests.support import REPO, make_project


def _params(**changes: object) -> dict:
    """conf/test's raw parameters with `ablations` keys replaced."""
    loader = ValidatingConfigLoader(str(REPO / "conf"), env="test", **CONFIG_LOADER_ARGS)
    params = loader._layered("parameters")
    params["ablations"] = {**params["ablations"], **changes}
    return params


def test_grid_expands_into_named_cells_with_their_overrides() -> None:
    validated = validate_parameters(_params())
    declaration = validated.declaration
    assert declaration is not None
    cell = "quality__guidance_scale_1p0__drop_fraction_0p2"
    assert set(declaration.cells) == {f"quality__guidance_scale_{g}__drop_fraction_{d}"
                                      for g in ("1p0", "2p0") for d in ("0p0", "0p2")}
    assert validated.blocks[f"params:{cell}.filter"].drop_fraction == 0.2
    assert validated.blocks[f"params:{cell}.training"].strategy == "joint"
    # guidance 2.0 is conf's synthesis block: its cells filter the shared synthetic_pool
    assert declaration.pool_of("quality__guidance_scale_2p0__drop_fraction_0p0") is None
    assert declaration.pool_of(cell) == "quality_pool_guidance_scale_1p0"
    assert validated.blocks["params:quality_pool_guidance_scale_1p0.synthesis"] \
        .sampling.guidance_scale == 1.0
    assert declaration.variants == {"quality_mode_global": cell}
    assert validated.blocks["params:quality_mode_global.filter"].mode == "global"
    assert declaration.coordinates(cell) == {"synthesis.sampling.guidance_scale": 1.0,
                                             "filter.drop_fraction": 0.2}


@pytest.mark.parametrize(("grid", "named"), [
    ({"synthesis.sampling.guidance_scal": [1.0]}, "ablations.quality.grid.synthesis.sampling"),
    ({"filter.drop_fractoin": [0.1]}, "ablations.quality.grid.filter.drop_fractoin"),
    ({"filtr.drop_fraction": [0.1]}, "ablations.quality.grid.filtr"),
    ({"filter.drop_fraction": [1.5]}, "ablations.quality.grid.filter.drop_fraction"),
])
def test_a_bad_grid_key_or_value_fails_naming_it(grid: dict, named: str) -> None:
    with pytest.raises(ParameterError, match=named.replace(".", r"\.")):
        validate_parameters(_params(quality={"grid": grid}))


def test_the_curve_is_checked_against_the_reserve() -> None:
    with pytest.raises(ParameterError, match=r"reserve_per_class = 8"):
        validate_parameters(_params(real_curve={"extra_real_per_class": [4, 16]}))
    with pytest.raises(ParameterError, match="strictly increasing"):
        validate_parameters(_params(real_curve={"extra_real_per_class": [4, 2]}))
    fractions = validate_parameters(_params(real_curve={"reserve_fractions": [0.25, 0.5, 1.0]}))
    assert [fractions.blocks[f"params:real_curve_{i}.training"].extra_real_per_class
            for i in (1, 2, 3)] == [2, 4, 8]


def test_a_new_threshold_arm_is_a_yaml_edit() -> None:
    params = _params()
    arms = {**params["ablations"]["threshold"]["arms"],
            "drop_50": {"filter": {"drop_fraction": 0.5}, "training": {"strategy": "joint"}}}
    declaration = validate_parameters(_params(threshold={"arms": arms})).declaration
    assert declaration is not None
    nodes = {node.name for node in create_pipelines(declaration)["ablation_threshold"].nodes}
    assert "drop_50.filter_pool" in nodes


def test_the_registry_builds_from_the_latest_sessions_environment() -> None:
    for env, cells in (("test", 4), (None, 6)):
        ValidatingConfigLoader(str(REPO / "conf"), env=env, **CONFIG_LOADER_ARGS)
        assert len(run_declaration().cells) == cells


def test_kedro_viz_shows_the_pipelines_kedro_run_builds_for_each_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kedro-viz (its loader, as `kedro viz run --env` calls it) and a run's session build the
    pipelines from the same environment, also for an environment declaring another grid."""
    from kedro_viz.integrations.kedro.data_loader import load_data

    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project.root)
    wide = project.root / "conf" / "wide"
    wide.mkdir()
    (wide / "parameters_ablations.yml").write_text(yaml.safe_dump({"ablations": {"quality": {
        "grid": {"synthesis.sampling.guidance_scale": [1.0, 3.0, 5.0],
                 "filter.drop_fraction": [0.2]},
        "variants": None}}}))
    seen = {}
    for env in ("wide", "test", "wide"):  # back and forth: nothing stale is kept
        _, viz, _ = load_data(project.root, env=env)
        with KedroSession.create(project_path=project.root, env=env) as session:
            session.load_context()
            run = dict(pipelines)  # what `session.run` reads its pipelines from
        names = {name: {node.name for node in pipeline.nodes} for name, pipeline in viz.items()}
        assert names == {name: {node.name for node in pipeline.nodes}
                         for name, pipeline in run.items()}, env
        seen[env] = names["ablation_quality"]
    assert "quality__guidance_scale_5p0__drop_fraction_0p2.train_classifier_seeds_0" in seen["wide"]
    assert not {name for name in seen["test"] if "5p0" in name}
    assert "quality_mode_global.filter_pool" in seen["test"]
    assert not {name for name in seen["wide"] if name.startswith("quality_mode_global")}
