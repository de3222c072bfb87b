"""MLflow as researchers read it: one child run per arm under the run of each `kedro run`.

kedro-mlflow opens one run per `kedro run` (the parent). `ArmRunsHook` adds, for every arm whose
metrics were computed in that run, a child run named after the arm (tag `mlflow.parentRunId`),
so MLflow's run list, compare view, parallel coordinates and charts put arms side by side:

* tags: `arm`, `ablation` (comma-separated when the arm is in several), `strategy`,
  `synthetic_from` (the dataset its synthetic images came from), `training.phases`,
  `feature_extractor`, `fid_reference`, and `ir_note` when the IR is undefined;
* params: the arm's effective blocks, flattened (`training.lr`, `evaluation.is_splits`,
  `filter.drop_fraction` of the filter that made its synthetic images), `seed`, `device`;
* metrics: every number of its metrics JSON (`top1_mean`, `top1_std`, `fid`,
  `inception_score`, `fid_floor`, counts), `top1_per_seed` (step = seed index),
  `per_class_top1/<class>`, `train_loss/seed_<s>` and `train_acc/seed_<s>` (step = epoch,
  counted on through the phases of a sequential arm) and, once its ablation's results table is
  made in the same run, every number of its row there (`top1_ci_low/high`, `gain_pp` with
  `gain_ci_low/high`, `p_value`, `p_holm`, `relative_gain`, `improvement_ratio`,
  `equivalent_real`, `exchange_rate`, ...). An arm in both tables (`baseline`, `drop_20`, the
  curve) gets the first table's row unprefixed and, from the second, the numbers that differ
  there (the Holm p of another family) as `<ablation>/<key>`;
* artifacts: `metrics.json`, `training_history.json` and `grids/`: the grid of the synthetic
  images the arm used (its filter's kept-vs-rejected grid, or the pool's samples grid).

The parent gets the generator's loss curve (`generator/loss`, step = optimiser step), its
samples grid and its report: every number of `generator_report` as `generator/<key>` (label
fidelity overall and per class, CAS and its seconds, memorization, FID/IS), the JSON and its
figure under `generator/`, and each ablation's kept-set fidelity as
`generator/kept_label_fidelity/<arm>`. Children are made with `MlflowClient` and explicit run
ids: kedro-mlflow's own nested runs never end with mlflow 3.17 (docs/tracking.md). An arm is
logged when its metrics node finishes, so arms reused by `--only-missing-outputs` get no new
child, and an arm that reruns gets one in that later run's parent. Without an active MLflow
run the hook does nothing.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.io import AbstractDataset, DatasetError
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE

from genaug.fingerprints import parameter_view
from genaug.models.diffusion import LOSS_KEY
from genaug.pipelines.ablations import ABLATION_ARMS, ALL_ARMS
from genaug.schemas.base import Schema

logger = logging.getLogger(__name__)

# The arms of each ablation's results table (`<ablation>_results`), as ablations.py reports them.
ARM_BLOCKS = ("training", "evaluation")  # the arm's own blocks (its filter may be another arm's)
POOL = "synthetic_pool"
KEPT = ".synthetic_kept"
GENERATOR = "generator"
POOL_GRID = "generator_samples_grid"
REPORT = "generator_report"
REPORT_GRID = "generator_report_grid"
KEPT_FIDELITY = "_kept_fidelity"
# Results-table columns that are not outcomes: `drop_fraction` is the `filter.drop_fraction` param.
_NOT_METRICS = frozenset({"drop_fraction"})
# MLflow's limit on a param value's length (mlflow.utils.validation).
_MAX_PARAM_LENGTH = 6000

StepMetric = tuple[str, float, int]  # (key, value, step)


# ----------------------------------------------------------------------------- pure helpers
def metric_key(name: str) -> str:
    """`name` with every character MLflow refuses in a key segment replaced by `_`."""
    return re.sub(r"[^\w.\- ]", "_", str(name))


def is_number(value: Any) -> bool:
    """True for a finite int or float (bools and None are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def flat_params(blocks: Mapping[str, Any]) -> dict[str, str]:
    """`{"training": TrainingParams(...), "seed": 1}` -> `{"training.lr": "0.002", "seed": "1"}`."""
    flat: dict[str, str] = {}
    for prefix, block in blocks.items():
        value = block.to_dict() if isinstance(block, Schema) else block
        if isinstance(value, Mapping):
            flat.update({f"{prefix}.{key}": str(item)[:_MAX_PARAM_LENGTH]
                         for key, item in parameter_view(value).items()})
        else:
            flat[prefix] = str(value)[:_MAX_PARAM_LENGTH]
    return flat


def summary_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Every number at the top of an arm's metrics JSON (Top-1 mean/std, FID, IS, counts)."""
    return {metric_key(key): float(value) for key, value in metrics.items() if is_number(value)}


def seed_metrics(metrics: Mapping[str, Any]) -> list[StepMetric]:
    """Top-1 of every seed (step = index in `seeds`) and per-class Top-1 (mean over seeds)."""
    steps = [("top1_per_seed", float(v), i) for i, v in enumerate(metrics.get("top1") or [])
             if is_number(v)]
    per_class = metrics.get("per_class_top1") or {}
    return steps + [(f"per_class_top1/{metric_key(name)}", float(v), 0)
                    for name, v in per_class.items() if is_number(v)]


def history_metrics(history: Mapping[str, Any]) -> list[StepMetric]:
    """Per-epoch train loss and accuracy of every seed (step = epoch, 1-based, across phases)."""
    steps: list[StepMetric] = []
    for seed, run in (history.get("runs") or {}).items():
        epoch = 0
        for phase in run.get("phases") or []:
            for offset, (loss, acc) in enumerate(zip(phase.get("loss") or [],
                                                     phase.get("train_acc") or [],
                                                     strict=True), start=epoch + 1):
                steps += [(f"train_loss/seed_{seed}", float(loss), offset),
                          (f"train_acc/seed_{seed}", float(acc), offset)]
            epoch += len(phase.get("loss") or [])
    return steps


def phases_note(history: Mapping[str, Any]) -> str:
    """`pretrain: epochs 1-10 on synthetic; finetune: epochs 11-30 on real` (first seed)."""
    runs = list((history.get("runs") or {}).values())
    parts, epoch = [], 0
    for phase in (runs[0].get("phases") or []) if runs else []:
        n = len(phase.get("loss") or [])
        pools = "+".join(phase.get("pools") or [])
        parts.append(f"{phase.get('name')}: epochs {epoch + 1}-{epoch + n} on {pools}")
        epoch += n
    return "; ".join(parts)


def loss_curve(generator: Mapping[str, Any]) -> list[StepMetric]:
    """The closed-set generator's batch loss per optimiser step (1-based); [] if not stored."""
    losses = generator.get(LOSS_KEY)
    if losses is None:
        return []
    return [("generator/loss", float(v), i) for i, v in enumerate(losses.tolist(), start=1)]


def report_metrics(report: Mapping[str, Any], prefix: str = "generator") -> dict[str, float]:
    """Every number of a (nested) generator report as `generator/<dotted key>`."""
    flat = parameter_view(dict(report))
    return {f"{prefix}/{metric_key(key)}": float(value) for key, value in flat.items()
            if is_number(value)}


def kept_metrics(kept: Mapping[str, Any]) -> dict[str, float]:
    """`generator/kept_label_fidelity/<arm>` (and the dropped images') of a kept-fidelity JSON."""
    names = {"label_fidelity": "kept_label_fidelity",
             "dropped_label_fidelity": "dropped_label_fidelity"}
    return {f"generator/{name}/{metric_key(arm)}": float(row[key])
            for arm, row in (kept.get("arms") or {}).items()
            for key, name in names.items() if is_number(row.get(key))}


def table_row_metrics(row: Mapping[str, Any]) -> dict[str, float]:
    """The outcome numbers of an arm's row in a results table (gains, IR, CI, ...)."""
    return {metric_key(key): float(value) for key, value in row.items()
            if key not in _NOT_METRICS and is_number(value)}


def ablations_of(arm: str) -> list[str]:
    """The ablations whose results table has the arm, in a stable order."""
    return [name for name, arms in ABLATION_ARMS.items() if arm in arms]


def synthetic_source(node: Node) -> str | None:
    """The dataset an arm's metrics node reads as its synthetic images (None: it reads none)."""
    return next((name for name in node.inputs if name == POOL or name.endswith(KEPT)), None)


def grid_of(source: str | None) -> str | None:
    """The grid dataset showing the synthetic images read from `source`."""
    if source == POOL:
        return POOL_GRID
    if source is not None and source.endswith(KEPT):
        return f"{source.removesuffix(KEPT)}.filter_grid"
    return None


def saved_file(catalog: Any, name: str) -> Path | None:
    """The local file of the latest saved version of a file dataset (e.g. a matplotlib PNG).

    A fresh dataset is built from the catalog's config, so its version lookup sees every save
    made so far (the catalog's own instance may be wrapped, e.g. by `reruns.Stale`).
    """
    try:
        config = catalog.config_resolver.resolve_pattern(name)
    except (KeyError, ValueError):
        return None
    filepath = (config or {}).get("filepath")
    if not filepath:
        return None
    path = Path(filepath)
    if config.get("versioned"):
        try:
            version = AbstractDataset.from_config(name, config).resolve_load_version()
        except DatasetError:  # nothing saved yet
            return None
        path = path / version / path.name
    return path if path.is_file() else None


def _now_ms() -> int:
    """MLflow's timestamps: milliseconds since the epoch."""
    return int(time.time() * 1000)


# ----------------------------------------------------------------------------- the hook
class ArmRunsHook:
    """Log every arm computed in a `kedro run` as a child run of kedro-mlflow's run."""

    def __init__(self) -> None:
        self._client: MlflowClient | None = None
        self._parent: str | None = None
        self._experiment: str | None = None
        self._started: dict[str, int] = {}
        self._children: dict[str, str] = {}
        self._logged: dict[str, dict[str, float]] = {}
        self._generator_logged = False

    @hook_impl(trylast=True)  # after kedro-mlflow has started the parent run
    def before_pipeline_run(self) -> None:
        """Remember the parent run; without an active run, stay off for this pipeline run."""
        self._started, self._children, self._logged = {}, {}, {}
        self._generator_logged = False
        run = mlflow.active_run()
        if run is None:
            self._client = self._parent = self._experiment = None
            return
        self._client = MlflowClient(mlflow.get_tracking_uri())
        self._parent, self._experiment = run.info.run_id, run.info.experiment_id

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        """Note when an arm's first node starts (the child run's start time)."""
        if self._parent is not None and node.namespace in ALL_ARMS:
            self._started.setdefault(node.namespace, _now_ms())

    @hook_impl
    def after_node_run(self, node: Node, catalog: Any, inputs: dict[str, Any],
                       outputs: dict[str, Any]) -> None:
        """An arm's metrics -> its child run; a results table -> its arms' gains and IR."""
        if self._parent is None:
            return
        arm = node.namespace
        if arm in ALL_ARMS and f"{arm}.metrics" in outputs:
            self._guard(f"arm '{arm}'", self._log_arm, arm, node, catalog, inputs,
                        outputs[f"{arm}.metrics"])
        if GENERATOR in outputs:
            self._guard("the generator", self._log_generator, outputs[GENERATOR])
        if REPORT in outputs:
            self._guard("the generator report", self._log_report, outputs[REPORT])
        for name in outputs:  # by name: under the DaskRunner a read loads the saved output
            if name.endswith(KEPT_FIDELITY):
                self._guard(name, self._log, self._parent, {},
                            [(key, value, 0) for key, value in
                             kept_metrics(outputs[name]).items()])
        for ablation in ABLATION_ARMS:
            table = outputs.get(f"{ablation}_results")
            if table is not None:
                self._guard(f"the {ablation} table", self._log_table, ablation, table)
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
        self._client = self._parent = self._experiment = None

    # ------------------------------------------------------------------------- logging
    def _guard(self, what: str, log: Any, *args: Any) -> None:
        """Run one logging step; a store or file failure warns instead of stopping the run."""
        try:
            log(*args)
        except (MlflowException, DatasetError, OSError) as exc:
            logger.warning("MLflow: could not log %s: %s", what, exc, exc_info=True)

    def _log_arm(self, arm: str, node: Node, catalog: Any, inputs: Mapping[str, Any],
                 metrics: Mapping[str, Any]) -> None:
        """Create the arm's child run with its tags, params, metrics and artifacts; end it."""
        assert self._client is not None and self._experiment is not None
        history = inputs.get(f"{arm}.training_history") or {}
        source = synthetic_source(node)
        blocks: dict[str, Any] = {stage: inputs[f"params:{arm}.{stage}"] for stage in ARM_BLOCKS
                                  if f"params:{arm}.{stage}" in inputs}
        if source is not None and source.endswith(KEPT):
            blocks["filter"] = catalog.load(f"params:{source.removesuffix(KEPT)}.filter")
        blocks.update({key: inputs[f"params:{key}"] for key in ("seed", "device")
                       if f"params:{key}" in inputs})
        strategy = str(metrics.get("strategy") or getattr(blocks.get("training"), "strategy", ""))
        ablations = ",".join(ablations_of(arm))
        tags = {
            MLFLOW_PARENT_RUN_ID: self._parent, "arm": arm, "ablation": ablations,
            "strategy": strategy, "synthetic_from": source or "none",
            "training.phases": phases_note(history),
            **{key: str(metrics[key]) for key in ("feature_extractor", "fid_reference")
               if metrics.get(key)},
            MLFLOW_RUN_NOTE: _note(arm, ablations, strategy, source, metrics),
        }
        run = self._client.create_run(self._experiment, start_time=self._started.get(arm),
                                      tags={k: v for k, v in tags.items() if v}, run_name=arm)
        run_id = run.info.run_id
        self._children[arm] = run_id
        status = RunStatus.FAILED
        try:
            summary = summary_metrics(metrics)
            self._log(run_id, flat_params(blocks),
                      [(key, value, 0) for key, value in summary.items()]
                      + seed_metrics(metrics) + history_metrics(history))
            self._logged[arm] = dict(summary)
            self._client.log_dict(run_id, dict(metrics), "metrics.json")
            if history:
                self._client.log_dict(run_id, dict(history), "training_history.json")
            grid_name = grid_of(source)
            grid = saved_file(catalog, grid_name) if grid_name else None
            if grid is not None:
                self._client.log_artifact(run_id, str(grid), "grids")
            status = RunStatus.FINISHED
        finally:
            self._client.set_terminated(run_id, RunStatus.to_string(status), _now_ms())
        logger.info("MLflow: arm '%s' logged as child run %s of %s", arm, run_id, self._parent)

    def _log_table(self, ablation: str, table: Any) -> None:
        """Each logged arm's row of a results table: gains, CIs, tests, IR, E and the rest.

        A key the arm already has keeps its value; a different value in this table (e.g. the
        Holm p of this table's family) is logged as `<ablation>/<key>`.
        """
        assert self._client is not None
        for row in table.to_dict("records"):
            arm = row.get("arm")
            if arm not in self._children:
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

    def _log(self, run_id: str, params: Mapping[str, str],
             metrics: Iterable[StepMetric]) -> None:
        """Log params and step metrics (MLflow's `log_batch` splits them into requests its
        store accepts: 100 params, 1000 metrics at most per request)."""
        assert self._client is not None
        now = _now_ms()
        entries = [Metric(key, value, now, step) for key, value, step in metrics]
        items = [Param(key, value) for key, value in sorted(params.items())]
        self._client.log_batch(run_id, metrics=entries, params=items)


def _note(arm: str, ablations: str, strategy: str, source: str | None,
          metrics: Mapping[str, Any]) -> str:
    """The child run's description (MLflow shows it on the run page)."""
    mean, std = metrics.get("top1_mean"), metrics.get("top1_std")
    spread = f" (std {100 * std:.2f})" if is_number(std) else ""  # none for one seed
    top1 = (f" Top-1 {100 * mean:.2f} %{spread} over seeds {metrics.get('seeds')}."
            if is_number(mean) else "")
    images = f"synthetic images from `{source}`" if source else "no synthetic images"
    return (f"Arm `{arm}` of the {ablations.replace(',', ' and ')} ablation: {strategy} "
            f"training, {images}.{top1}")

