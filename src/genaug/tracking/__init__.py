"""MLflow as researchers read it: one child run per arm under the run of each `kedro run`.

kedro-mlflow opens one run per `kedro run` (the parent). `ArmRunsHook` (`hooks.py`) adds, for
every arm computed in that run, a child run named after the arm (tag
`mlflow.parentRunId`), so MLflow's run list, compare view, parallel coordinates and charts put
arms side by side:

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

`ParentRunHook` gives the parent the generator's loss curve (`generator/loss`, step =
optimiser step), its samples grid and its report: every number of `generator_report` as
`generator/<key>` (label fidelity overall and per class, CAS and its seconds, memorization,
FID/IS), the JSON and its figure under `generator/`, each ablation's kept-set fidelity as
`generator/kept_label_fidelity/<arm>`, and every comparison's verdict as a tag. Children are
made with `MlflowClient` and explicit run ids: kedro-mlflow's own nested runs never end with
mlflow 3.17 (docs/tracking.md). An arm's child run opens when its first node in the run starts
and ends FINISHED once its metrics node has run and everything is logged (FINISHED with a note
if the run computed only part of the arm, FAILED with the pipeline). Arms reused by
`--only-missing-outputs` get no new child, and an arm that reruns gets one in that later run's
parent. Without an active MLflow run both hooks do nothing.

`InterruptsHook` (`interrupts.py`): SIGINT (Ctrl-C) and SIGTERM end the parent and every open
child as KILLED, once any save in progress has completed. `runs.py` holds what the two MLflow
hooks share.
"""

from genaug.tracking.hooks import ArmRunsHook, ParentRunHook
from genaug.tracking.interrupts import InterruptsHook, RunInterrupted, end_interrupted_runs
from genaug.tracking.values import (
    flat_params,
    history_metrics,
    is_number,
    kept_metrics,
    loss_curve,
    metric_key,
    phases_note,
    report_metrics,
    saved_file,
    seed_metrics,
    summary_metrics,
    table_row_metrics,
)

__all__ = ["ArmRunsHook", "InterruptsHook", "ParentRunHook", "RunInterrupted",
           "end_interrupted_runs", "flat_params", "history_metrics", "is_number",
           "kept_metrics", "loss_curve", "metric_key", "phases_note", "report_metrics",
           "saved_file", "seed_metrics", "summary_metrics", "table_row_metrics"]
