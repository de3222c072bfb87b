"""Two arms (joint, sequential) of the training + evaluation templates through SequentialRunner,
and the registered evaluation pipeline on conf/test."""

from __future__ import annotations

import json

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner

from genaug.pipelines import evaluation, training
from tests.pipelines.training.helpers import conf_params, names, patterns


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so tests can read intermediate outputs."""

    def _release(self) -> None:
        """Keep the data."""


SHARED = ["real_train", "real_reserve", "real_test", "class_names", "evaluator"]


def _arm(arm: str) -> Pipeline:
    template = training.create_template() + evaluation.create_template()
    return Pipeline(
        template, namespace=arm,
        inputs={name: name for name in SHARED if name in template.inputs()},
        parameters={"params:training": "params:training",
                    "params:training_overrides": f"params:{arm}.training",
                    "params:evaluation": "params:evaluation",
                    "params:evaluation_overrides": f"params:{arm}.evaluation",
                    "params:seed": "params:seed", "params:device": "params:device"},
    )


def test_two_arms_run_with_distinct_outputs():
    pipe = evaluation.create_pipeline() + _arm("arm_a") + _arm("arm_b")
    syn_a, syn_b = patterns(6, 4, seed=10), patterns(3, 4, seed=11)
    data = {
        "real_train": patterns(10, 4, seed=1), "real_reserve": patterns(10, 4, seed=2),
        "real_test": patterns(8, 4, seed=3), "class_names": names(),
        "arm_a.synthetic_kept": syn_a, "arm_b.synthetic_kept": syn_b,
        "params:training": conf_params("training"),
        "params:evaluation": conf_params("evaluation"),
        "params:arm_a.training": {"strategy": "joint", "synthetic_fraction": 0.25},
        "params:arm_b.training": {"strategy": "sequential"},
        "params:arm_a.evaluation": {}, "params:arm_b.evaluation": {"fid_reference": "real_reserve"},
        "params:seed": 3, "params:device": "cpu",
    }
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in data.items()})
    for arm in ("arm_a", "arm_b"):
        for name in ("classifier", "training_history"):
            catalog[f"{arm}.{name}"] = KeptDataset()
    assert pipe.inputs() == set(data)
    SequentialRunner().run(pipe, catalog)
    a, b = catalog.load("arm_a.metrics"), catalog.load("arm_b.metrics")
    assert (a["strategy"], b["strategy"]) == ("joint", "sequential")
    assert (a["n_synthetic"], b["n_synthetic"]) == (24, 12)
    assert (a["n_eval_synthetic"], b["n_eval_synthetic"]) == (24, 12)
    assert (a["fid_reference"], b["fid_reference"]) == ("real_test", "real_reserve")
    hist_b = catalog.load("arm_b.training_history")
    json.dumps([a, b, hist_b], allow_nan=False)  # what JSONDataset will write
    assert [p["name"] for p in hist_b["runs"]["0"]["phases"]] == ["pretrain", "finetune"]
    clf_a, clf_b = catalog.load("arm_a.classifier"), catalog.load("arm_b.classifier")
    assert clf_a.keys() == clf_b.keys()
    assert any(not (clf_a[k] == clf_b[k]).all() for k in clf_a)


@pytest.mark.slow
def test_evaluation_pipeline_on_conf_test(kedro_project):
    kedro_project.run("data_processing")
    kedro_project.run("evaluation")
    weights = kedro_project.load("evaluator")
    assert "head.weight" in weights
