"""The MLflow hooks: `ArmRunsHook` (a child run per arm) and `ParentRunHook` (the generator,
its report and the verdicts on kedro-mlflow's run of the `kedro run`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from mlflow.entities import RunStatus
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE

from genaug.schemas.ablations import ABLATIONS, Declaration, expand
from genaug.tracking.runs import ParentRun
from genaug.tracking.values import (
    ARM_BLOCKS,
    GENERATOR,
    KEPT,
    KEPT_FIDELITY,
    POOL_GRID,
    REPORT,
    REPORT_GRID,
    ablations_of,
    flat_params,
    grid_of,
    history_metrics,
    is_number,
    kept_metrics,
    loss_curve,
    metric_key,
    now_ms,
    phases_note,
    report_metrics,
    run_note,
    saved_file,
    seed_metrics,
    summary_metrics,
    synthetic_source,
    table_row_metrics,
)

logger = logging.getLogger(__name__)


class ArmRunsHook(ParentRun):
    """Log every arm computed in a `kedro run` as a child run of kedro-mlflow's run."""

    def __init__(self) -> None:
        super().__init__()
        self._children: dict[str, str] = {}  # arm -> child run id
        self._open: set[str] = set()  # arms whose child run is still RUNNING
        self._logged: dict[str, dict[str, float]] = {}
        self._declared: Declaration | None = None

    @hook_impl(trylast=True)  # after kedro-mlflow has started the parent run
    def before_pipeline_run(self, catalog: Any) -> None:
        """Remember the parent run and the declared arms; without an active run, stay off."""
        self._children, self._open, self._logged = {}, set(), {}
        self._attach()
        self._declared = None if self._parent is None else expand(
            catalog.load("params:ablations"),
            catalog.load("params:data_processing").reserve_per_class)

    def _is_arm(self, name: str | None) -> bool:
        """Whether a namespace is a declared arm's."""
        return self._declared is not None and name in self._declared.all_arms

    def _ablations_of(self, arm: str) -> list[str]:
        """The ablations whose table has the arm."""
        return ablations_of(arm, self._declared.ablation_arms() if self._declared else {})

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        """An arm's first node in this run opens its child run (RUNNING while the arm runs)."""
        arm = node.namespace
        if self._parent is not None and self._is_arm(arm) and arm not in self._children:
            self._guard(f"arm '{arm}'", self._open_child, arm)

    @hook_impl
    def after_node_run(self, node: Node, catalog: Any, inputs: dict[str, Any],
                       outputs: dict[str, Any]) -> None:
        """An arm's metrics -> its child run; a results table -> its arms' gains and IR."""
        if self._parent is None:
            return
        arm = node.namespace
        if self._is_arm(arm) and f"{arm}.metrics" in outputs:
            self._guard(f"arm '{arm}'", self._log_arm, arm, node, catalog, inputs,
                        outputs[f"{arm}.metrics"])
        for ablation in ABLATIONS:
            table = outputs.get(f"{ablation}_results")
            if table is not None:
                self._guard(f"the {ablation} table", self._log_table, ablation, table)

    @hook_impl(tryfirst=True)  # while the parent is still running (kedro-mlflow ends it)
    def after_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        """End the children of arms whose metrics this run did not compute; forget the parent
        (`ParentRunHook` logs the run-wide artifacts)."""
        self._end_open(RunStatus.FINISHED, "Its metrics were not computed in this run.")
        self._detach()

    @hook_impl(tryfirst=True)  # before kedro-mlflow ends the parent FAILED
    def on_pipeline_error(self) -> None:
        """The pipeline failed: its arms still running failed with it."""
        self._end_open(RunStatus.FAILED, "The pipeline failed while this arm ran.")
        self._detach()

    def _open_child(self, arm: str) -> str:
        """Create the arm's child run, RUNNING from now until its metrics are logged."""
        assert self._client is not None and self._experiment is not None
        tags = {MLFLOW_PARENT_RUN_ID: self._parent, "arm": arm,
                "ablation": ",".join(self._ablations_of(arm))}
        run = self._client.create_run(self._experiment, start_time=now_ms(), tags=tags,
                                      run_name=arm)
        self._children[arm] = run.info.run_id
        self._open.add(arm)
        return run.info.run_id

    def _end_open(self, status: int, note: str) -> None:
        """End every child run still open with `status`, saying why on its page."""
        for arm in sorted(self._open):
            run_id = self._children[arm]
            self._guard(f"arm '{arm}'", self._client.set_tag, run_id, MLFLOW_RUN_NOTE, note)
            self._guard(f"arm '{arm}'", self._client.set_terminated, run_id,
                        RunStatus.to_string(status), now_ms())
        self._open.clear()

    def _log_arm(self, arm: str, node: Node, catalog: Any, inputs: Mapping[str, Any],
                 metrics: Mapping[str, Any]) -> None:
        """Give the arm's child run its tags, params, metrics and artifacts; end it FINISHED
        (FAILED if logging fails, KILLED if a signal stops it: `interrupts.py`)."""
        assert self._client is not None
        history = inputs.get(f"{arm}.training_history") or {}
        source = synthetic_source(node)
        blocks = _arm_blocks(arm, source, catalog, inputs)
        run_id = self._children.get(arm) or self._open_child(arm)
        status = RunStatus.FAILED
        try:
            self._log_arm_content(arm, run_id, blocks, metrics, history, source, catalog)
            status = RunStatus.FINISHED
        except KeyboardInterrupt:
            status = RunStatus.KILLED
            raise
        finally:
            self._open.discard(arm)
            self._client.set_terminated(run_id, RunStatus.to_string(status), now_ms())
        logger.info("MLflow: arm '%s' logged as child run %s of %s", arm, run_id, self._parent)

    def _arm_tags(self, arm: str, source: str | None, blocks: Mapping[str, Any],
                  metrics: Mapping[str, Any], history: Mapping[str, Any]) -> dict[str, str]:
        """The child run's tags (empty ones left out)."""
        strategy = str(metrics.get("strategy") or getattr(blocks.get("training"), "strategy", ""))
        ablations = ",".join(self._ablations_of(arm))
        tags = {
            MLFLOW_PARENT_RUN_ID: self._parent, "arm": arm, "ablation": ablations,
            "strategy": strategy, "synthetic_from": source or "none",
            "training.phases": phases_note(history),
            **{key: str(metrics[key]) for key in ("feature_extractor", "fid_reference")
               if metrics.get(key)},
            MLFLOW_RUN_NOTE: run_note(arm, ablations, strategy, source, metrics),
        }
        return {k: v for k, v in tags.items() if v}

    def _log_arm_content(self, arm: str, run_id: str, blocks: Mapping[str, Any],
                         metrics: Mapping[str, Any], history: Mapping[str, Any],
                         source: str | None, catalog: Any) -> None:
        """The child run's tags, params, metrics and artifacts."""
        assert self._client is not None
        summary = summary_metrics(metrics)
        coordinates = self._declared.coordinates(arm) if self._declared else {}
        grid = {f"grid.{key.rsplit('.', 1)[-1]}": str(value) for key, value in coordinates.items()}
        self._log(run_id, {**flat_params(blocks), **grid},
                  [(key, value, 0) for key, value in summary.items()]
                  + seed_metrics(metrics) + history_metrics(history),
                  self._arm_tags(arm, source, blocks, metrics, history))
        self._logged[arm] = dict(summary)
        self._client.log_dict(run_id, dict(metrics), "metrics.json")
        if history:
            self._client.log_dict(run_id, dict(history), "training_history.json")
        grid_name = grid_of(source)
        grid = saved_file(catalog, grid_name) if grid_name else None
        if grid is not None:
            self._client.log_artifact(run_id, str(grid), "grids")

    def _log_table(self, ablation: str, table: Any) -> None:
        """Each logged arm's row of a results table: gains, CIs, tests, IR, E and the rest.

        A key the arm already has keeps its value; a different value in this table (e.g. the
        Holm p of this table's family) is logged as `<ablation>/<key>`.
        """
        assert self._client is not None
        for row in table.to_dict("records"):
            arm = row.get("arm")
            if arm not in self._logged:
                continue  # reused from an earlier run, or not an arm of this run
            logged = self._logged[arm]
            fresh: dict[str, float] = {}
            for key, value in table_row_metrics(row).items():
                if key not in logged:
                    fresh[key] = value
                elif not math.isclose(logged[key], value, rel_tol=1e-9, abs_tol=1e-12):
                    fresh[f"{ablation}/{key}"] = value
            self._log(self._children[arm], {},
                      [(key, value, 0) for key, value in fresh.items()])
            logged.update(fresh)
            if isinstance(row.get("ir_note"), str):
                self._client.set_tag(self._children[arm], "ir_note", row["ir_note"])
            if isinstance(row.get("verdict"), str):
                self._client.set_tag(self._children[arm], f"{ablation}/verdict", row["verdict"])


def _arm_blocks(arm: str, source: str | None, catalog: Any,
                inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The arm's effective blocks, the filter that made its synthetic images, seed, device."""
    blocks: dict[str, Any] = {stage: inputs[f"params:{arm}.{stage}"] for stage in ARM_BLOCKS
                              if f"params:{arm}.{stage}" in inputs}
    if source is not None and source.endswith(KEPT):
        blocks["filter"] = catalog.load(f"params:{source.removesuffix(KEPT)}.filter")
    blocks.update({key: inputs[f"params:{key}"] for key in ("seed", "device")
                   if f"params:{key}" in inputs})
    return blocks


class ParentRunHook(ParentRun):
    """The generator's loss curve, samples grid and report, the kept-set fidelity and every
    comparison's verdict, on kedro-mlflow's run of the `kedro run`."""

    def __init__(self) -> None:
        super().__init__()
        self._generator_logged = False

    @hook_impl(trylast=True)  # after kedro-mlflow has started the parent run
    def before_pipeline_run(self) -> None:
        """Remember the parent run; without an active run, stay off for this pipeline run."""
        self._generator_logged = False
        self._attach()

    @hook_impl
    def after_node_run(self, outputs: dict[str, Any]) -> None:
        """The generator, its report, kept-set fidelity and verdicts, as they are made."""
        if self._parent is None:
            return
        if GENERATOR in outputs:
            self._guard("the generator", self._log_generator, outputs[GENERATOR])
        if REPORT in outputs:
            self._guard("the generator report", self._log_report, outputs[REPORT])
        for name in outputs:  # by name: under the DaskRunner a read loads the saved output
            if name.endswith(KEPT_FIDELITY):
                self._guard(name, self._log, self._parent, {},
                            [(key, value, 0) for key, value in
                             kept_metrics(outputs[name]).items()])
        for ablation in ABLATIONS:
            tested = outputs.get(f"{ablation}_comparisons")
            if tested is not None:
                self._guard(f"the {ablation} verdicts", self._log_verdicts, ablation, tested)

    @hook_impl(tryfirst=True)  # while the parent is still running (kedro-mlflow ends it)
    def after_pipeline_run(self, pipeline: Pipeline, catalog: Any) -> None:
        """Give the parent the generator's loss curve and samples grid, made now or reused."""
        if self._parent is None:
            return
        datasets = pipeline.datasets()
        if GENERATOR in datasets and not self._generator_logged and catalog.exists(GENERATOR):
            self._guard("the generator", self._log_generator, catalog.load(GENERATOR))
        for name in (POOL_GRID, REPORT_GRID):
            grid = saved_file(catalog, name) if name in datasets else None
            if grid is not None:
                self._guard(name, self._client.log_artifact, self._parent, str(grid), GENERATOR)
        self._detach()

    def _log_verdicts(self, ablation: str, comparisons: Any) -> None:
        """Every comparison's verdict on the parent run: a tag `<ablation>/verdict/<arm> vs
        <reference>`, and its seeds needed as a metric when it is inconclusive."""
        assert self._client is not None and self._parent is not None
        needed = []
        for row in comparisons.to_dict("records"):
            key = f"{ablation}/verdict/{metric_key(row['arm'])} vs {metric_key(row['reference'])}"
            self._client.set_tag(self._parent, key, str(row["verdict"]))
            if is_number(row.get("seeds_needed")):
                needed.append((key.replace("/verdict/", "/seeds_needed/"),
                               float(row["seeds_needed"]), 0))
        self._log(self._parent, {}, needed)

    def _log_generator(self, generator: Mapping[str, Any]) -> None:
        """The generator's loss per optimiser step, on the parent run."""
        assert self._parent is not None
        self._log(self._parent, {}, loss_curve(generator))
        self._generator_logged = True

    def _log_report(self, report: Mapping[str, Any]) -> None:
        """The generator report's numbers and JSON, on the parent run."""
        assert self._parent is not None and self._client is not None
        self._log(self._parent, {},
                  [(key, value, 0) for key, value in report_metrics(report).items()])
        self._client.log_dict(self._parent, dict(report), f"{GENERATOR}/{REPORT}.json")
