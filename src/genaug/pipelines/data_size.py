"""The real-data-size ablation, composed from `ablations.data_size`: the closed-set chain once
per base size, each in its own namespaces, sharing the evaluator and the test split."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from genaug.pipelines import data_processing, filtering, synthesis, training
from genaug.pipelines.arms import (
    arm_pipeline,
    train_and_evaluate,
    train_and_evaluate_on_extra_real,
)
from genaug.pipelines.reporting.data_size import create_data_size_report
from genaug.schemas.ablations import Declaration
from genaug.schemas.data_size import DATA_SIZE, SizeChain

_SHARED = ("raw_train", "raw_test", "class_names")
_SHARED_PARAMS = ("params:seed", "params:device", "params:filtering")


def size_stages(chain: SizeChain) -> Pipeline:
    """One size's real splits, generator and CLIP (namespace `size_<n>`)."""
    template = (data_processing.create_size_template() + synthesis.create_generator_template()
                + filtering.create_clip_template())
    free = template.inputs()
    params = {name: name for name in _SHARED_PARAMS if name in free}
    params.update({f"params:{stage}": f"params:{chain.namespace}.{stage}"
                   for stage in ("data_processing", "synthesis")})
    return Pipeline(template, namespace=chain.namespace, tags=[chain.namespace, DATA_SIZE],
                    inputs={name: name for name in _SHARED if name in free}, parameters=params)


def size_pools(chain: SizeChain) -> Pipeline:
    """Each of one size's pools, sampled from its generator and scored by its CLIP."""
    template = synthesis.create_pool_template() + filtering.create_scoring_template()
    free = template.inputs()
    shared = {"class_names": "class_names"}
    shared.update({name: f"{chain.namespace}.{name}"
                   for name in ("generator", "real_train", "clip_model")})
    pipelines = Pipeline([])
    for pool in chain.pool_multiples:
        params = {name: name for name in _SHARED_PARAMS if name in free}
        params["params:synthesis"] = f"params:{pool}.synthesis"
        pipelines += Pipeline(template, namespace=pool, tags=[chain.namespace, DATA_SIZE],
                              inputs={k: v for k, v in shared.items() if k in free},
                              parameters=params)
    return pipelines


def size_arms(chain: SizeChain) -> Pipeline:
    """One size's baseline, real-augmentation curve and synthetic arms on its own splits."""
    real = {name: f"{chain.namespace}.{name}" for name in ("real_train", "real_reserve")}
    largest = list(chain.pool_multiples)[-1]
    arms = arm_pipeline(train_and_evaluate(), chain.baseline,
                        inputs={**real, "synthetic_kept": f"{largest}.synthetic_pool"})
    curve = training.create_curve_real_template() + train_and_evaluate_on_extra_real()
    for arm in chain.curve:
        arms += arm_pipeline(curve, arm, inputs=real)
    synthetic = filtering.create_template() + train_and_evaluate()
    for arm, pool in chain.synthetic.items():
        arms += arm_pipeline(synthetic, arm, inputs={
            **real, "synthetic_pool": f"{pool}.synthetic_pool",
            "synthetic_scores": f"{pool}.synthetic_scores"})
    return Pipeline(arms, tags=[chain.namespace, DATA_SIZE])


def data_size_ablation(declaration: Declaration) -> Pipeline:
    """Every base size's chain and arms, and the data-size report with the law's fit."""
    chains = list(declaration.sizes.values())
    stages = sum((size_stages(c) + size_pools(c) + size_arms(c) for c in chains), Pipeline([]))
    return stages + create_data_size_report(chains)
