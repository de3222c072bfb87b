"""Nodes that turn per-arm metrics into a results table, Markdown, plots and MLflow metrics."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from genaug.metrics import absolute_gain, improvement_ratio, relative_gain

BASELINE = "baseline"
REAL_AUGMENTED = "real_augmented"

COLUMNS = [
    "arm", "strategy", "drop_fraction", "n_real", "n_synthetic", "n_extra_real", "n_seeds",
    "top1_mean", "top1_std", "gain_pp", "relative_gain", "improvement_ratio", "ir_note",
    "fid", "inception_score", "inception_score_std", "feature_extractor", "fid_set",
]


def build_results_table(**inputs: Mapping[str, Any]) -> pd.DataFrame:
    """One row per arm: accuracy, gains against `baseline`, IR against `real_augmented`, FID, IS.

    Inputs are keyword arguments `<arm>__metrics` (an arm's evaluation metrics) and, for arms
    with a CLIP filter, `<arm>__filter` (its filter summary), in arm order.
    """
    arms = [key.removesuffix("__metrics") for key in inputs if key.endswith("__metrics")]
    if BASELINE not in arms:
        raise ValueError(f"The results table needs a '{BASELINE}' arm; got arms {arms}.")
    metrics = {arm: inputs[f"{arm}__metrics"] for arm in arms}
    base = metrics[BASELINE]
    real_aug = metrics.get(REAL_AUGMENTED)
    rows = []
    for arm in arms:
        m = metrics[arm]
        summary = inputs.get(f"{arm}__filter") or {}
        has_synthetic = m.get("strategy") in ("joint", "sequential")
        ir, ir_note = None, None
        if real_aug is not None and has_synthetic:
            ir, ir_note = improvement_ratio(m["top1_mean"], real_aug["top1_mean"],
                                            base["top1_mean"])
        rows.append({
            "arm": arm,
            "strategy": m.get("strategy"),
            "drop_fraction": summary.get("drop_fraction", 0.0 if arm == BASELINE else None),
            "n_real": m.get("n_real"),
            "n_synthetic": m.get("n_synthetic"),
            "n_extra_real": m.get("n_extra_real"),
            "n_seeds": len(m.get("seeds", [])),
            "top1_mean": m["top1_mean"],
            "top1_std": m.get("top1_std"),
            "gain_pp": absolute_gain(m["top1_mean"], base["top1_mean"]),
            "relative_gain": relative_gain(m["top1_mean"], base["top1_mean"]).value,
            "improvement_ratio": ir,
            "ir_note": ir_note,
            "fid": m.get("fid"),
            "inception_score": m.get("inception_score"),
            "inception_score_std": m.get("inception_score_std"),
            "feature_extractor": m.get("feature_extractor"),
            "fid_set": _fid_set(arm),
        })
    return pd.DataFrame(rows, columns=COLUMNS)


def results_markdown(table: pd.DataFrame, title: str) -> str:
    """Render the results table as readable Markdown with the definitions underneath."""
    shown = pd.DataFrame({
        "arm": table["arm"],
        "strategy": table["strategy"],
        "drop": table["drop_fraction"].map(lambda v: _fmt(v, "{:.0%}")),
        "images added": [_added(syn, extra) for syn, extra in
                         zip(table["n_synthetic"], table["n_extra_real"], strict=True)],
        "Top-1 (%)": [f"{100 * m:.2f} ± {100 * (s or 0):.2f}"
                      for m, s in zip(table["top1_mean"], table["top1_std"], strict=True)],
        "gain (pp)": table["gain_pp"].map(lambda v: _fmt(v, "{:+.2f}")),
        "rel. gain": table["relative_gain"].map(lambda v: _fmt(v, "{:+.2%}")),
        "IR": table["improvement_ratio"].map(lambda v: _fmt(v, "{:.2f}")),
        "FID ↓": table["fid"].map(lambda v: _fmt(v, "{:.2f}")),
        "IS ↑": table["inception_score"].map(lambda v: _fmt(v, "{:.2f}")),
        "FID/IS on": table["fid_set"],
        "features": table["feature_extractor"],
    })
    seeds = sorted(set(table["n_seeds"].dropna().astype(int)))
    notes = [f"* IR of `{arm}`: {note}." for arm, note in zip(table["arm"], table["ir_note"],
                                                             strict=True) if isinstance(note, str)]
    return "\n".join([
        f"# {title}",
        "",
        shown.to_markdown(index=False, disable_numparse=True),
        "",
        f"Top-1 on the real test split, mean ± std over {'/'.join(map(str, seeds))} seed(s). "
        "gain = Top-1(arm) − Top-1(baseline) in percentage points; rel. gain = gain / "
        "Top-1(baseline); IR = gain(arm) / gain(real_augmented), the real-augmented arm adding "
        "as many real images as the arm adds synthetic ones (IR = 1: a synthetic image is worth "
        "a real one; blank when not defined). FID/IS are computed with the named feature "
        "extractor on the set in 'FID/IS on' (the baseline row: the unfiltered pool).",
        "",
        *notes,
        *([""] if notes else []),
    ])


def plot_threshold(table: pd.DataFrame) -> Figure:
    """Top-1, FID and IS against the CLIP-filter drop fraction (baseline: dashed / 0 %)."""
    arms = table[table["arm"] != BASELINE].sort_values("drop_fraction")
    base = table[table["arm"] == BASELINE].iloc[0]
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    x = 100 * arms["drop_fraction"].astype(float)
    axes[0].errorbar(x, 100 * arms["top1_mean"], yerr=100 * arms["top1_std"].fillna(0),
                     marker="o", capsize=4, label="real + synthetic (joint)")
    axes[0].axhline(100 * base["top1_mean"], color="grey", linestyle="--", label="real only")
    axes[0].set(title="Top-1 accuracy", xlabel="dropped by CLIP score (%)", ylabel="Top-1 (%)",
                xlim=(-2, max(x.max(), 30) + 2))
    axes[0].legend(fontsize=8)
    for ax, column, title in ((axes[1], "fid", "FID (lower is better)"),
                              (axes[2], "inception_score", "Inception Score (higher is better)")):
        xs = [0.0, *x.tolist()]
        ys = [base[column], *arms[column].tolist()]
        points = [(a, b) for a, b in zip(xs, ys, strict=True) if _finite(b)]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o")
        ax.set(title=title, xlabel="dropped by CLIP score (%)")
    extractor = base["feature_extractor"]
    fig.suptitle(f"CLIP-filter threshold ablation (FID/IS features: {extractor})")
    return fig


def plot_strategies(table: pd.DataFrame) -> Figure:
    """Top-1 per training strategy as bars with std error bars and the IR on top."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    x = range(len(table))
    ax.bar(x, 100 * table["top1_mean"], yerr=100 * table["top1_std"].fillna(0), capsize=4,
           color=["grey" if a == BASELINE else "tab:blue" for a in table["arm"]])
    low = 100 * (table["top1_mean"] - table["top1_std"].fillna(0)).min()
    ax.set_ylim(max(0.0, low - 5), min(100.0, 100 * table["top1_mean"].max() + 5))
    for i, (acc, ir) in enumerate(zip(table["top1_mean"], table["improvement_ratio"],
                                      strict=True)):
        label = f"{100 * acc:.1f}%" + (f"\nIR {ir:.2f}" if _finite(ir) else "")
        ax.text(i, 100 * acc, label, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), table["arm"])
    ax.set(title="Training strategy ablation", ylabel="Top-1 on real test (%)")
    return fig


def _fid_set(arm: str) -> str:
    """Which images an arm's FID/IS describe, from how the ablations wire its evaluation.

    The baseline trains on real images only; its evaluation is fed the whole
    `synthetic_pool` (the 0 % point of the threshold curve). Every other arm's evaluation is
    fed a filter's kept images: its own filter's, or those of the filtering arm it is paired
    with (`sequential`, `real_augmented`).
    """
    return "unfiltered pool" if arm == BASELINE else "kept images"


def _added(n_synthetic: Any, n_extra_real: Any) -> str:
    """What an arm added to real_train: synthetic images, extra real images, or nothing."""
    if _finite(n_extra_real) and n_extra_real > 0:
        return f"{int(n_extra_real)} real"
    if _finite(n_synthetic) and n_synthetic > 0:
        return f"{int(n_synthetic)} synthetic"
    return "—"


def _finite(value: Any) -> bool:
    """True for a real, finite number."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: Any, spec: str) -> str:
    """Format a number, or return an empty cell for a missing / undefined value."""
    if not _finite(value):
        return ""
    return spec.format(float(value))
