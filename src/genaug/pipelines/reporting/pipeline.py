"""Reporting pipeline: one report per ablation, built from its arms' metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kedro.pipeline import Node, Pipeline

from genaug.pipelines.reporting.markdown import results_markdown
from genaug.pipelines.reporting.nodes import build_results_table
from genaug.pipelines.reporting.plots import plot_exchange_rate, plot_strategies, plot_threshold
from genaug.pipelines.reporting.verdicts import summary_markdown

_PLOTS = {"threshold": plot_threshold, "training": plot_strategies}


def create_report_pipeline(ablation: str, arms: Sequence[str], filtered: Mapping[str, str],
                           curve: Sequence[str] = ()) -> Pipeline:
    """Report nodes for one ablation (`threshold` or `training`).

    `arms` lists the tested arm namespaces in table order; `filtered` maps an arm to the arm
    whose filter produced its synthetic images (for the drop fraction); `curve` lists the
    real-augmentation arms that place the synthetic arms on the exchange-rate curve.
    """
    inputs = {"report": f"params:reporting.{ablation}"}
    inputs.update({f"{arm}__metrics": f"{arm}.metrics" for arm in arms})
    inputs.update({f"{arm}__curve": f"{arm}.metrics" for arm in curve})
    inputs.update({f"{arm}__filter": f"{source}.filter_summary"
                   for arm, source in filtered.items()})
    return Pipeline(
        [
            Node(build_results_table, inputs,
                 [f"{ablation}_results", f"{ablation}_comparisons"],
                 name=f"{ablation}_results_table"),
            Node(results_markdown, [f"{ablation}_results", f"{ablation}_comparisons",
                                    f"params:reporting.{ablation}"],
                 f"{ablation}_results_md", name=f"{ablation}_results_markdown"),
            Node(summary_markdown, [f"{ablation}_results", f"{ablation}_comparisons",
                                    f"params:reporting.{ablation}"],
                 f"{ablation}_summary", name=f"{ablation}_summary"),
            Node(_PLOTS[ablation], f"{ablation}_results", f"{ablation}_plot",
                 name=f"{ablation}_plot"),
            Node(plot_exchange_rate, f"{ablation}_results", f"{ablation}_exchange_plot",
                 name=f"{ablation}_exchange_plot"),
        ],
        tags=["reporting"],
        namespace="reporting",
        prefix_datasets_with_namespace=False,
    )
