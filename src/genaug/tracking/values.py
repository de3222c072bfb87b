"""What the MLflow hooks log, as pure functions: metric keys, flattened params, step metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro.pipeline.node import Node

from genaug.common.numbers import is_number
from genaug.fingerprints import parameter_view
from genaug.models.diffusion import LOSS_KEY
from genaug.schemas.base import Schema

# Dataset names the hooks look for, and an arm's own parameter blocks.
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


def metric_key(name: str) -> str:
    """`name` with every character MLflow refuses in a key segment replaced by `_`."""
    return re.sub(r"[^\w.\- ]", "_", str(name))


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


def ablations_of(arm: str, ablation_arms: Mapping[str, Sequence[str]]) -> list[str]:
    """The ablations whose results table has the arm, in a stable order."""
    return [name for name, arms in ablation_arms.items() if arm in arms]


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


def now_ms() -> int:
    """MLflow's timestamps: milliseconds since the epoch."""
    return int(time.time() * 1000)


def run_note(arm: str, ablations: str, strategy: str, source: str | None,
          metrics: Mapping[str, Any]) -> str:
    """The child run's description (MLflow shows it on the run page)."""
    mean, std = metrics.get("top1_mean"), metrics.get("top1_std")
    spread = f" (std {100 * std:.2f})" if is_number(std) else ""  # none for one seed
    top1 = (f" Top-1 {100 * mean:.2f} %{spread} over seeds {metrics.get('seeds')}."
            if is_number(mean) else "")
    images = f"synthetic images from `{source}`" if source else "no synthetic images"
    return (f"Arm `{arm}` of the {ablations.replace(',', ' and ')} ablation: {strategy} "
            f"training, {images}.{top1}")
