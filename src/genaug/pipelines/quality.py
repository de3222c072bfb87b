"""The generator-quality × CLIP-threshold ablation, composed from the declared grid.

Each grid pool (e.g. one per guidance scale) is sampled from the shared `generator`, scored by
the shared CLIP and given its own generator report, in its own namespace; each grid cell is a
joint-training arm filtering its pool; variants are arms at one cell changing more keys.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from genaug.pipelines import filtering, generator_report, synthesis
from genaug.pipelines.arms import arm_pipeline, train_and_evaluate
from genaug.pipelines.reporting.quality import create_quality_report
from genaug.schemas.ablations import BASELINE, QUALITY, SHARED_POOL, Declaration

# Datasets and parameters a pool namespace reads under their global names.
_POOL_SHARED = ("generator", "real_train", "real_test", "class_names", "clip_model", "evaluator")
_POOL_PARAMS = ("params:seed", "params:device", "params:filtering", "params:generator_report",
                "params:evaluation", f"params:{BASELINE}.training")


def pool_stages(pool: str) -> Pipeline:
    """Sample, score and report one further pool in namespace `pool`."""
    template = (synthesis.create_pool_template() + filtering.create_scoring_template()
                + generator_report.create_report_template(f"params:{BASELINE}.training"))
    free = template.inputs()
    params = {name: name for name in _POOL_PARAMS if name in free}
    params["params:synthesis"] = f"params:{pool}.synthesis"
    return Pipeline(template, namespace=pool, tags=[pool, QUALITY],
                    inputs={name: name for name in _POOL_SHARED if name in free},
                    parameters=params)


def pool_datasets(pool: str | None) -> dict[str, str]:
    """The pool, scores and generator report a cell on `pool` reads (None: the shared ones)."""
    prefix = f"{pool}." if pool else ""
    return {name: f"{prefix}{name}"
            for name in ("synthetic_pool", "synthetic_scores", "generator_report")}


def quality_arms(declaration: Declaration) -> Pipeline:
    """Filter → train → evaluate for every grid cell and variant, on its cell's pool."""
    template = filtering.create_template() + train_and_evaluate()
    arms = Pipeline([])
    for arm in declaration.quality:
        datasets = pool_datasets(declaration.pool_of(arm))
        arms += arm_pipeline(template, arm, inputs={
            key: datasets[key] for key in ("synthetic_pool", "synthetic_scores")})
    return arms


def kept_fidelity(declaration: Declaration) -> Pipeline:
    """Label fidelity and CAS of every quality arm's kept set, one node each per pool."""
    pools: dict[str | None, list[str]] = {}
    for arm in declaration.quality:
        pools.setdefault(declaration.pool_of(arm), []).append(arm)
    nodes = Pipeline([])
    for pool, arms in pools.items():
        kept = {arm: f"{arm}.synthetic_kept" for arm in arms}
        report = pool_datasets(pool)["generator_report"]
        nodes += generator_report.create_kept_pipeline(pool or SHARED_POOL, kept, report=report)
        nodes += generator_report.create_kept_cas_pipeline(pool or SHARED_POOL, kept, report,
                                                           f"params:{BASELINE}.training")
    return nodes


def quality_ablation(declaration: Declaration) -> Pipeline:
    """Pools, arms, kept-set fidelity and the map report of the quality grid."""
    pools = sum((pool_stages(pool) for pool in declaration.pools), Pipeline([]))
    fidelity = {pool or SHARED_POOL: pool_datasets(pool)["generator_report"]
                for pool in {declaration.pool_of(arm) for arm in declaration.quality}}
    return (pools + quality_arms(declaration) + kept_fidelity(declaration)
            + create_quality_report(declaration, fidelity))
