"""`ablation_quality` end to end on conf/test: the map (table, heat map, summary), one MLflow
child run per grid cell with its coordinates as params, and a grid point added by a YAML edit
rerunning exactly its pool, its arms and the report."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pandas as pd
import pytest
import yaml
from PIL import Image

from genaug.pipelines.ablations import create_pipelines
from tests.support import (
    KedroProject,
    child_runs,
    completed_nodes,
    declared,
    ran_project,
)

DECLARED = declared()  # conf/test: guidance 1.0, 2.0 × drop fraction 0.0, 0.2 + one variant


@pytest.fixture(scope="module")
def quality(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KedroProject]:
    """One `kedro run --pipeline ablation_quality` on conf/test, shared by the module."""
    with ran_project(tmp_path_factory, "quality", "ablation_quality") as project:
        yield project


def test_the_map_has_a_row_per_cell_a_heat_map_and_a_summary(quality: KedroProject) -> None:
    report = quality.data / "08_reporting" / "quality"
    grid = pd.read_csv(report / "map.csv")
    assert set(grid["arm"]) == set(DECLARED.cells)
    assert set(grid["pool"]) == {"guidance_scale_1p0", "guidance_scale_2p0"}
    assert set(grid["column"]) == {"drop_fraction_0p0", "drop_fraction_0p2"}
    assert grid["kept_label_fidelity"].between(0, 1).all()
    assert grid["pool_cas"].notna().all()
    assert grid["kept_cas"].between(0, 1).all()
    unfiltered = grid[grid["column"] == "drop_fraction_0p0"]
    assert (unfiltered["kept_cas"] == unfiltered["pool_cas"]).all()  # the kept set is the pool
    assert (grid["gain_ci_low"] <= grid["gain_ci_high"]).all()
    with Image.open(report / "heatmap.png") as image:
        assert image.width > 600 and image.height > 100
    summary = (report / "summary.md").read_text()
    assert "- guidance_scale_1p0: best drop_fraction_" in summary
    assert "against drop_fraction_0p0: drop_fraction_0p2 " in summary  # every filtered cell
    assert "The threshold matters (a filtered cell better or worse than none) at:" in summary
    assert "not yet shown at:" in summary
    table = pd.read_csv(report / "results.csv")
    assert set(table["arm"]) == {"baseline", *DECLARED.quality}


def test_each_grid_cell_is_a_child_run_with_its_coordinates(quality: KedroProject) -> None:
    children = child_runs(quality)
    assert set(children) == {"baseline", *DECLARED.quality}
    for arm, cell in DECLARED.cells.items():
        params = children[arm].data.params
        assert params["grid.guidance_scale"] == str(
            cell.coordinates["synthesis.sampling.guidance_scale"]), arm
        assert params["grid.drop_fraction"] == str(cell.coordinates["filter.drop_fraction"]), arm
        assert float(params["filter.drop_fraction"]) == cell.coordinates["filter.drop_fraction"]
        assert "quality" in children[arm].data.tags["ablation"].split(",")
    variant = children["quality_mode_global"].data.params
    assert (variant["grid.variant"], variant["grid.guidance_scale"]) == (
        "quality_mode_global", "1.0")
    assert "grid.guidance_scale" not in children["baseline"].data.params


def test_a_new_guidance_scale_reruns_exactly_its_pool_arms_and_the_report(
        quality: KedroProject, caplog: pytest.LogCaptureFixture) -> None:
    """Last in the module: it edits the project's conf/test."""
    before = {node.name for node in create_pipelines(DECLARED)["ablation_quality"].nodes}
    path = quality.root / "conf" / "test" / "parameters_ablations.yml"
    conf = yaml.safe_load(path.read_text())
    conf["ablations"]["quality"]["grid"]["synthesis.sampling.guidance_scale"].append(3.0)
    path.write_text(yaml.safe_dump(conf))  # the YAML edit a researcher makes
    caplog.clear()
    with caplog.at_level(logging.INFO):
        quality.run("ablation_quality", only_missing_outputs=True)
    ran = completed_nodes(caplog.records)
    edited = create_pipelines(declared(root=quality.root))["ablation_quality"]
    after = {node.name for node in edited.nodes}
    new = after - before
    assert new and all("3p0" in name for name in new)  # the pool's nodes and its two cells
    assert ran == new | {"reporting.quality_results_table", "reporting.quality_results_markdown",
                         "reporting.quality_map"}
    grid = pd.read_csv(quality.data / "08_reporting" / "quality" / "map.csv")
    assert "guidance_scale_3p0" in set(grid["pool"])

