"""Reporting pipeline: one report per ablation, built from its arms' metrics."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.reporting.nodes import (
    build_results_table,
    plot_strategies,
    plot_threshold,
    results_markdown,
)

_PLOTS = {"threshold": plot_threshold, "training": plot_strategies}


def create_report_pipeline(ablation: str, arms: list[str], filtered: dict[str, str]) -> Pipeline:
    """Report nodes for one ablation (`threshold` or `training`).

    `arms` lists the arm namespaces in table order; `filtered` maps an arm to the arm whose
    filter produced its synthetic images (for the drop fraction).
    """
    inputs = {f"{arm}__metrics": f"{arm}.metrics" for arm in arms}
    inputs.update({f"{arm}__filter": f"{source}.filter_summary"
                   for arm, source in filtered.items()})
    return Pipeline(
        [
            Node(build_results_table, inputs, f"{ablation}_results",
                 name=f"{ablation}_results_table"),
            Node(results_markdown, [f"{ablation}_results", f"params:reporting.{ablation}.title"],
                 f"{ablation}_results_md", name=f"{ablation}_results_markdown"),
            Node(_PLOTS[ablation], f"{ablation}_results", f"{ablation}_plot",
                 name=f"{ablation}_plot"),
        ],
        tags=["reporting"],
        namespace="reporting",
        prefix_datasets_with_namespace=False,
    )

