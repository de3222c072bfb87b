"""Generator report pipeline: the pool's report (once) and each ablation's kept-set fidelity."""

from __future__ import annotations

from collections.abc import Mapping

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.generator_report.nodes import (
    generator_report,
    kept_label_fidelity,
    kept_set_cas,
)

_GROUPING = {"tags": ["generator_report"], "namespace": "generator_report",
             "prefix_datasets_with_namespace": False}


def create_report_template(training: str = "params:training") -> Pipeline:
    """`generator_report` (JSON) and `generator_report_grid` (PNG) of `synthetic_pool`.

    `training` is the parameter block whose classifier settings the CAS uses.
    """
    return Pipeline([
        Node(
            func=generator_report,
            inputs=["synthetic_pool", "real_train", "real_test", "evaluator", "class_names",
                    "params:generator_report", "params:evaluation", training,
                    "params:seed", "params:device"],
            outputs=["generator_report", "generator_report_grid"],
            name="generator_report",
            tags=["gpu"],  # the CAS classifier and the evaluator: one GPU under DaskRunner
        )
    ])


def create_pipeline(training: str = "params:training", **kwargs) -> Pipeline:
    """The shared pool's generator report, grouped as "generator_report.*"."""
    return Pipeline(create_report_template(training), **_GROUPING)


def create_kept_pipeline(ablation: str, kept: Mapping[str, str],
                         report: str = "generator_report") -> Pipeline:
    """`<ablation>_kept_fidelity`: label fidelity of each arm's kept set (arm -> dataset),
    beside the pool's `report` (the generator report of the pool the arms filtered)."""
    inputs = {"generator_report": report, "evaluator": "evaluator",
              "class_names": "class_names", "evaluation": "params:evaluation",
              "device": "params:device", **kept}
    return Pipeline(
        [Node(kept_label_fidelity, inputs, f"{ablation}_kept_fidelity",
              name=f"{ablation}_kept_fidelity", tags=["gpu"])],
        **_GROUPING,
    )


def create_kept_cas_pipeline(name: str, kept: Mapping[str, str], report: str,
                             training: str) -> Pipeline:
    """`<name>_kept_cas`: CAS of each arm's kept set (arm -> dataset), with the CAS settings of
    the pool's `report` (`training`: the parameter block whose classifier settings it uses)."""
    inputs = {"generator_report": report, "real_test": "real_test",
              "class_names": "class_names", "params": "params:generator_report",
              "evaluation": "params:evaluation", "training": training, "seed": "params:seed",
              "device": "params:device", **kept}
    return Pipeline(
        [Node(kept_set_cas, inputs, f"{name}_kept_cas", name=f"{name}_kept_cas", tags=["gpu"])],
        **_GROUPING,
    )
