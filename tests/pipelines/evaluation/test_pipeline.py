"""Two arms (joint, sequential) of the training + evaluation templates through SequentialRunner,
and the registered evaluation pipeline on conf/test."""

from __future__ import annotations

import json

import pytest
import torch
from kedro.framework.session import KedroSession
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from genaug.models.classifier_training import predict, top1_accuracy
from genaug.models.classifiers import build_classifier, load_state
from genaug.models.feature_extractors import evaluator_extractors
from genaug.models.fid import fid_and_inception_score
from genaug.pipelines import evaluation, training
from genaug.pipelines.arms import arm_pipeline
from genaug.pipelines.evaluation.nodes import train_evaluator
from genaug.schemas.evaluation import EvaluationParams
from tests.support import evaluation_params, names, patterns, training_params


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so tests can read intermediate outputs."""

    def _release(self) -> None:
        """Keep the data."""


def _arm(arm: str):
    """An arm as the ablations build it (the production builder, not a hand-wired copy)."""
    return arm_pipeline(training.create_template() + evaluation.create_template(), arm)


def test_evaluation_pipeline_groups_its_nodes_under_the_stage():
    pipe = evaluation.create_pipeline()
    assert [n.name for n in pipe.nodes] == ["evaluation.train_evaluator",
                                            "evaluation.fid_reference_statistics"]
    assert pipe.all_outputs() == {"evaluator", "fid_reference_stats"}
    assert pipe.inputs() == {"real_train", "real_reserve", "real_test", "class_names",
                             "params:evaluation", "params:seed", "params:device"}


def test_two_arms_run_with_distinct_outputs():
    pipe = evaluation.create_pipeline() + _arm("arm_a") + _arm("arm_b")
    syn_a, syn_b = patterns(6, 4, seed=10), patterns(3, 4, seed=11)
    data = {
        "real_train": patterns(10, 4, seed=1), "real_reserve": patterns(10, 4, seed=2),
        "real_test": patterns(8, 4, seed=3), "class_names": names(),
        "arm_a.synthetic_kept": syn_a, "arm_b.synthetic_kept": syn_b,
        "arm_a.seed_store": {}, "arm_b.seed_store": {},  # nothing trained before
        "params:evaluation": evaluation_params(),
        "params:arm_a.training": training_params({"strategy": "joint",
                                                  "synthetic_fraction": 0.25}),
        "params:arm_b.training": training_params({"strategy": "sequential"}),
        "params:arm_a.evaluation": evaluation_params(),
        "params:arm_b.evaluation": evaluation_params({"fid_reference": "real_reserve"}),
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


def _saved(project, names):
    """Load saved datasets and the raw parameters of a project copy.

    Reads the catalog and parameter config directly: building the session's catalog would
    validate the parameters of every registered pipeline, which this test does not exercise.
    """
    with KedroSession.create(project_path=project.root, env=project.env) as session:
        loader = session.load_context().config_loader
        catalog = DataCatalog.from_config(loader["catalog"])
        return [catalog.load(name) for name in names], loader["parameters"]


@pytest.mark.slow
def test_evaluation_pipeline_on_conf_test(kedro_project):
    kedro_project.run("data_processing")
    kedro_project.run("evaluation")
    (weights, train, reserve, test, class_names), raw = _saved(
        kedro_project, ["evaluator", "real_train", "real_reserve", "real_test", "class_names"])
    params = EvaluationParams.model_validate(raw["evaluation"])
    seed, k = raw["seed"], len(class_names)
    # The saved weights are exactly what the parameters and seed produce from the saved data.
    again = train_evaluator(train, reserve, test, class_names, params, seed, "cpu")
    assert weights.keys() == again.keys()
    assert all(torch.equal(weights[name], again[name]) for name in weights)
    # They fit the network built from `evaluation.evaluator` and classify real_test above chance.
    model = load_state(build_classifier(params.evaluator, train["images"].shape[1], k), weights,
                       "evaluation.evaluator.architecture", "evaluator")
    logits = predict(model, test["images"], params.evaluator.normalize.stats(),
                     torch.device("cpu"), 64)
    assert torch.isfinite(logits).all()
    assert top1_accuracy(logits.argmax(1), test["labels"], k) > 1.5 / k
    # Its features give FID 0 for a set against itself and a larger FID for noise than for
    # other real images of the same classes.
    feats, logit_mod = evaluator_extractors(weights, params.evaluator, train["images"].shape[1], k)
    noise = torch.randint(0, 256, test["images"].shape, dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    cpu = torch.device("cpu")
    self_fid, is_mean, _ = fid_and_inception_score(test["images"], test["images"], feats,
                                                   logit_mod, 64, cpu, 2, seed)
    real_fid, _, _ = fid_and_inception_score(test["images"], train["images"], feats, logit_mod,
                                             64, cpu, 2, seed)
    noise_fid, _, _ = fid_and_inception_score(test["images"], noise, feats, logit_mod, 64, cpu,
                                              2, seed)
    assert self_fid == pytest.approx(0.0, abs=1e-3)
    assert 0.0 < real_fid < noise_fid
    assert 1.0 - 1e-6 <= is_mean <= k
