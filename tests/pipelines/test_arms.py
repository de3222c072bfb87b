"""Arms as built for production: shared inputs kept, per-arm blocks mapped, effective values."""

from __future__ import annotations

from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from genaug.pipelines.ablations import create_pipelines
from genaug.pipelines.arms import arm_pipeline
from genaug.schemas.ablations import BASELINE, FILTERED_ARM, REUSING_ARMS
from tests.support import declared

DECLARED = declared()
REAL_CURVE_ARMS = DECLARED.curve
# Every arm of `__default__`: the fixed ones, the threshold arms, the curve and the quality
# grid (the data-size arms have their own pipeline, `ablation_data_size`).
ALL_ARMS = tuple(arm for arm in DECLARED.all_arms if arm not in DECLARED.size_arms)


def _scale(real_train: list[int], params: dict, seed: int) -> list[float]:
    return [x * params["factor"] + seed for x in real_train]


def _template() -> Pipeline:
    return Pipeline([Node(_scale, ["real_train", "params:training", "params:seed"],
                          "classifier", name="scale")])


def test_arms_share_global_inputs_and_read_their_own_block() -> None:
    pipe = arm_pipeline(_template(), "a") + arm_pipeline(_template(), "b")
    assert pipe.inputs() == {"real_train", "params:seed", "params:a.training",
                             "params:b.training"}
    catalog = DataCatalog({"real_train": MemoryDataset([1, 2])})
    catalog["params:seed"] = 1
    catalog["params:a.training"] = {"factor": 2.0}
    catalog["params:b.training"] = {"factor": 10}
    SequentialRunner().run(pipe, catalog)
    assert catalog.load("a.classifier") == [3.0, 5.0]
    assert catalog.load("b.classifier") == [11.0, 21.0]


def test_production_arms_read_only_their_effective_blocks_and_shared_data() -> None:
    pipelines = create_pipelines(DECLARED)
    everything = pipelines["__default__"]
    # The pipelines train exactly the declared arms (any other top-level key is a typo).
    assert {BASELINE, *REUSING_ARMS, *DECLARED.threshold, *DECLARED.quality} <= set(ALL_ARMS)
    trained = {node.namespace for node in everything.nodes
               if node.name.endswith(".train_classifier_seeds_0")}
    assert trained == set(ALL_ARMS)
    # Joint training is computed once, as drop_20: both ablations hold its training node.
    for ablation in ("ablation_threshold", "ablation_training"):
        assert f"{FILTERED_ARM}.train_classifier_seeds_0" in {
            node.name for node in pipelines[ablation].nodes}
    params = {name for name in everything.inputs() if name.startswith("params:")}
    stage_defaults = {"params:training", "params:filter"}
    assert not params & stage_defaults, "arms must read params:<arm>.<stage>, not the defaults"
    for arm in ALL_ARMS:
        assert f"params:{arm}.training" in params
        assert f"params:{arm}.evaluation" in params
        nodes = everything.only_nodes_with_namespaces([arm]).nodes
        assert {node.name.removeprefix(f"{arm}.") for node in nodes} >= {
            "train_classifier_seeds_0", "combine_seeds", "evaluate_classifier"}
    # The reusing arms read the filtering arm's kept images (real_augmented for its counts);
    # the real-augmentation arms train on their own extra real images; the baseline on none.
    for arm in REUSING_ARMS:
        train = everything.only_nodes_with_namespaces([arm]).only_nodes_with_tags(arm)
        inputs = {i for node in train.nodes for i in node.inputs}
        assert f"{FILTERED_ARM}.synthetic_kept" in inputs
    for arm in ("real_augmented", *REAL_CURVE_ARMS):
        node = everything.only_nodes(f"{arm}.train_classifier_seeds_0").nodes[0]
        assert f"{arm}.extra_real" in node.inputs
    # joint is not trained twice: one drop_20 training node, and no `joint` namespace.
    names = [node.name for node in everything.nodes]
    assert names.count(f"{FILTERED_ARM}.train_classifier_seeds_0") == 1
    assert not [name for name in names if name.startswith("joint.")]
    baseline_inputs = {i for n in pipelines["training"].nodes for i in n.inputs}
    assert "synthetic_pool" in baseline_inputs


def test_shared_stages_are_grouped_without_renaming_datasets() -> None:
    everything = create_pipelines(DECLARED)["__default__"]
    for stage in ("data_processing", "synthesis", "filtering", "evaluation", "reporting"):
        assert everything.only_nodes_with_namespaces([stage]).nodes, stage
    outputs = everything.all_outputs()
    assert {"real_train", "generator", "synthetic_pool", "synthetic_scores",
            "evaluator"} <= outputs


def test_data_size_arms_train_on_their_own_size_and_share_the_test_split() -> None:
    pipeline = create_pipelines(DECLARED)["ablation_data_size"]
    trained = {node.namespace for node in pipeline.nodes
               if node.name.endswith(".train_classifier_seeds_0")}
    assert trained == set(DECLARED.size_arms)
    for name, chain in DECLARED.sizes.items():
        for arm in chain.arms:
            node = pipeline.only_nodes(f"{arm}.train_classifier_seeds_0").nodes[0]
            assert f"{name}.real_train" in node.inputs and "real_train" not in node.inputs
            evaluate = pipeline.only_nodes(f"{arm}.evaluate_classifier").nodes[0]
            assert "real_test" in evaluate.inputs and "evaluator" in evaluate.inputs
        for arm, pool in chain.synthetic.items():
            node = pipeline.only_nodes(f"{arm}.filter_pool").nodes[0]
            assert f"{pool}.synthetic_pool" in node.inputs
        generator = pipeline.only_nodes(f"{name}.train_generator").nodes[0]
        assert generator.inputs[0] == f"{name}.real_train"
        assert f"params:{name}.synthesis" in generator.inputs
    assert not {node.namespace for node in create_pipelines(DECLARED)["__default__"].nodes
                } & set(DECLARED.size_arms)
