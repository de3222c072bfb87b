"""`ablation_data_size` end to end on conf/test (two base sizes): every results column, the law
fit, the summary and the plot; each size its own generator on nested real splits; every arm a
child run with its size; and a size added to the list rerunning exactly its chain."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from genaug.pipelines.ablations import create_pipelines
from genaug.pipelines.reporting.nodes import COLUMNS
from tests.support import (
    KedroProject,
    child_runs,
    completed_nodes,
    declared,
    execute_results_notebook,
    notebook_errors,
    notebook_images,
    notebook_text,
    ran_project,
)

DECLARED = declared()  # conf/test: 4 and 8 real images per class, pools 1× and 2×
REPORT_NODES = {f"reporting.data_size_{name}" for name in
                ("results_table", "results_markdown", "law_fit", "summary", "plot")}


@pytest.fixture(scope="module")
def data_size(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KedroProject]:
    """One `kedro run --pipeline ablation_data_size` on conf/test, shared by the module."""
    with ran_project(tmp_path_factory, "data_size", "ablation_data_size") as project:
        yield project


def test_every_size_has_its_rows_and_every_column(data_size: KedroProject) -> None:
    table = pd.read_csv(data_size.data / "08_reporting" / "data_size" / "results.csv")
    assert list(table.columns) == ["arm", "train_per_class", "pool_multiple", *COLUMNS[1:]]
    assert list(table["arm"]) == [arm for chain in DECLARED.sizes.values()
                                  for arm in (chain.baseline, *chain.synthetic, *chain.curve)]
    for chain in DECLARED.sizes.values():
        rows = table[table["train_per_class"] == chain.per_class].set_index("arm")
        assert (rows["n_real"] == 4 * chain.per_class).all()  # conf/test: 4 classes
        synthetic = rows.loc[list(chain.synthetic)]
        assert list(synthetic["pool_multiple"]) == [1, 2]
        assert synthetic["gain_ci_low"].notna().all() and synthetic["verdict"].notna().all()
        curve = rows.loc[list(chain.curve), "n_extra_real"]
        assert list(curve) == [4 * n for n in chain.extra_per_class]
        assert rows.loc[chain.baseline, "role"] == "baseline"


def test_the_law_fit_summary_and_plot(data_size: KedroProject) -> None:
    report = data_size.data / "08_reporting" / "data_size"
    law = json.loads((report / "law.json").read_text())
    assert len(law["points"]) == 4 and law["k"] == 1000
    assert [p["dataset"] for p in law["published"]] == ["CIFAR-10", "BloodMNIST", "ImageNet-100"]
    used = sum(point["used"] for point in law["points"])
    assert law["n_points"] == used
    assert (law["c2"] is None) == (used < 3)
    summary = (report / "summary.md").read_text()
    assert "- 4 real/class, 1× pool" in summary and "- 8 real/class, 2× pool" in summary
    assert "The study's published exchange rates c2:" in summary
    assert ("fitted on" in summary) != ("was not fitted" in summary)
    assert "Against the study's claims:" in summary
    with Image.open(report / "plot.png") as image:
        assert image.width > 800 and image.height > 300


def test_each_size_trains_its_own_generator_on_nested_splits(data_size: KedroProject) -> None:
    catalog = data_size.catalog()
    small, large = (catalog.load(f"size_{n}.real_train") for n in (4, 8))
    assert small["labels"].numel() == 16 and large["labels"].numel() == 32
    large_rows = {tuple(image.flatten().tolist()) for image in large["images"]}
    assert all(tuple(image.flatten().tolist()) in large_rows for image in small["images"])
    generators = [catalog.load(f"size_{n}.generator") for n in (4, 8)]
    assert any(not torch.equal(generators[0][key], generators[1][key])
               for key in generators[0] if generators[0][key].is_floating_point())


def test_each_size_arm_is_a_child_run_with_its_size(data_size: KedroProject) -> None:
    children = child_runs(data_size)
    assert set(children) == set(DECLARED.size_arms)
    for chain in DECLARED.sizes.values():
        for arm in chain.arms:
            assert children[arm].data.params["grid.train_per_class"] == str(chain.per_class)
            assert children[arm].data.tags["ablation"] == "data_size"


def test_the_notebook_shows_the_data_size_summary_and_plot(data_size: KedroProject) -> None:
    notebook = execute_results_notebook(data_size.root, env="test")
    assert notebook_errors(notebook) == []
    text = notebook_text(notebook)
    assert "**Real-data-size axis and the exchange-rate law**" in text
    assert "- 8 real/class, 2× pool" in text
    assert len(notebook_images(notebook)) == 1  # only this ablation ran: its plot


def test_a_new_size_reruns_exactly_its_chain_and_the_report(
        data_size: KedroProject, caplog: pytest.LogCaptureFixture) -> None:
    """Last in the module: it edits the project's conf/test."""
    before = {node.name for node in create_pipelines(DECLARED)["ablation_data_size"].nodes}
    path = data_size.root / "conf" / "test" / "parameters_ablations.yml"
    conf = yaml.safe_load(path.read_text())
    conf["ablations"]["data_size"]["train_per_class"] = [4, 6, 8]
    path.write_text(yaml.safe_dump(conf))  # the YAML edit a researcher makes
    caplog.clear()
    with caplog.at_level(logging.INFO):
        data_size.run("ablation_data_size", only_missing_outputs=True)
    ran = completed_nodes(caplog.records)
    edited = create_pipelines(declared(root=data_size.root))["ablation_data_size"]
    new = {node.name for node in edited.nodes} - before
    assert new and all(name.startswith("size_6") for name in new)
    assert ran == new | REPORT_NODES
    table = pd.read_csv(data_size.data / "08_reporting" / "data_size" / "results.csv")
    assert sorted(set(table["train_per_class"])) == [4, 6, 8]
