"""The generator report in `ablation_training` on conf/test: versioned JSON + PNG under the
environment's 08_reporting, the kept set's fidelity, and the stage's place in both ablations."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest

from genaug.pipelines.ablations import create_pipelines
from genaug.tracking import kept_metrics, report_metrics
from tests.support import KedroProject, declared, ran_project


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KedroProject]:
    """One `ablation_training` run on conf/test."""
    with ran_project(tmp_path_factory, "generator_report", "ablation_training") as project:
        yield project


def test_both_ablations_report_the_pool_once_and_their_own_kept_sets() -> None:
    pipelines = create_pipelines(declared())
    # The training ablation's joint arm is drop_20.
    for ablation, kept in (("threshold", {"drop_10", "drop_20", "drop_30"}),
                           ("training", {"drop_20"})):
        nodes = {n.name: n for n in pipelines[f"ablation_{ablation}"].nodes}
        report = nodes["generator_report.generator_report"]
        assert "params:baseline.training" in report.inputs  # CAS uses the baseline's classifier
        fidelity = nodes[f"generator_report.{ablation}_kept_fidelity"]
        assert {i.removesuffix(".synthetic_kept") for i in fidelity.inputs
                if i.endswith(".synthetic_kept")} == kept
    default = [n.name for n in pipelines["__default__"].nodes]
    assert default.count("generator_report.generator_report") == 1


@pytest.mark.slow  # the fixture runs ablation_training (~45 s on 2 cores)
def test_report_is_versioned_json_and_png_with_computed_metrics(reported: KedroProject) -> None:
    root = reported.data / "08_reporting"
    versions = list((root / "generator_report.json").iterdir())
    assert len(versions) == 1 and (versions[0] / "generator_report.json").is_file()
    png = next((root / "generator_report.png").iterdir()) / "generator_report.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000
    report = json.loads((versions[0] / "generator_report.json").read_text())
    pool = reported.load("synthetic_pool")
    names = reported.load("class_names")
    assert report["n_pool"] == pool["labels"].numel()
    assert set(report["label_fidelity_per_class"]) == set(names)
    assert report["label_fidelity"] == pytest.approx(report["label_fidelity_hits"]
                                                     / report["n_pool"])
    for key in ("label_fidelity", "evaluator_real_test_top1", "cas", "memorization_share"):
        assert 0.0 <= report[key] <= 1.0, key
    assert report["cas_detail"]["seconds"] > 0 and report["seconds"]["cas"] > 0
    assert report["feature_extractor"] == "evaluator-cnn" and math.isfinite(report["fid"])
    memo = report["memorization"]
    assert memo["pool_nn_min"] <= memo["pool_nn_median"]
    assert report_metrics(report)["generator/cas"] == report["cas"]


@pytest.mark.slow
def test_kept_fidelity_is_consistent_with_the_pool(reported: KedroProject) -> None:
    report = reported.load("generator_report")
    kept = reported.load("training_kept_fidelity")
    joint = kept["arms"]["drop_20"]  # the training ablation's joint arm
    assert joint["n_kept"] == reported.load("drop_20.synthetic_kept")["labels"].numel()
    assert joint["n_kept"] + joint["n_dropped"] == report["n_pool"]
    hits = joint["label_fidelity"] * joint["n_kept"] + (joint["dropped_label_fidelity"] or 0) \
        * joint["n_dropped"]
    assert hits == pytest.approx(report["label_fidelity_hits"])
    assert set(kept_metrics(kept)) == {"generator/kept_label_fidelity/drop_20",
                                       "generator/dropped_label_fidelity/drop_20"}
