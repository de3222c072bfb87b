"""The report's figures: gain, FID and IS against the drop fraction; gains per strategy; the
real-augmentation curve with the synthetic arms placed on it (the table's own curve)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from genaug.common.numbers import is_number
from genaug.metrics import interpolated_curve
from genaug.pipelines.reporting.formatting import with_ci
from genaug.pipelines.reporting.nodes import SYNTHETIC_STRATEGIES
from genaug.schemas.ablations import BASELINE

# Synthetic arms on the exchange-rate plot (green is the real-augmentation curve's).
_ARM_COLORS = ["tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:pink"]


def _errors(table: pd.DataFrame, value: str, low: str, high: str, scale: float = 1.0
            ) -> np.ndarray:
    """Asymmetric error bars (2×N) from interval columns; 0 where an interval is undefined."""
    v = table[value].astype(float).to_numpy()
    lo = table[low].astype(float).to_numpy()
    hi = table[high].astype(float).to_numpy()
    bars = np.vstack([v - lo, hi - v]) * scale
    return np.nan_to_num(bars, nan=0.0).clip(min=0.0)


def plot_threshold(table: pd.DataFrame) -> Figure:
    """Gain (with its CI), FID and IS against the CLIP-filter drop fraction (real floor dashed)."""
    arms = table[table["role"] == "arm"].sort_values("drop_fraction")
    base = table[table["arm"] == BASELINE].iloc[0]
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    x = 100 * arms["drop_fraction"].astype(float)
    axes[0].errorbar(x, arms["gain_pp"].astype(float),
                     yerr=_errors(arms, "gain_pp", "gain_ci_low", "gain_ci_high"),
                     marker="o", capsize=4, label="real + synthetic (joint)")
    axes[0].axhline(0.0, color="grey", linestyle="--", label="real only (baseline)")
    axes[0].set(title="Top-1 gain over the baseline (95 % CI)",
                xlabel="dropped by CLIP score (%)", ylabel="gain (pp)",
                xlim=(-2, max(x.max(), 30) + 2))
    axes[0].legend(fontsize=8)
    for ax, column, floor, title in (
            (axes[1], "fid", "fid_floor", "FID (lower is better)"),
            (axes[2], "inception_score", "inception_score_floor",
             "Inception Score (higher is better)")):
        xs = [0.0, *x.tolist()]
        ys = [base[column], *arms[column].tolist()]
        points = [(a, b) for a, b in zip(xs, ys, strict=True) if is_number(b)]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label="synthetic set")
        floors = [(a, b) for a, b in zip(xs, [base[floor], *arms[floor].tolist()], strict=True)
                  if is_number(b)]
        if floors:
            ax.plot(*zip(*floors, strict=True), color="grey", linestyle="--", marker=".",
                    label="real set, same size")
            ax.legend(fontsize=8)
        ax.set(title=title, xlabel="dropped by CLIP score (%)")
    n = "/".join(map(str, sorted(set(table["n_seeds"].astype(int)))))
    fig.suptitle(f"CLIP-filter threshold ablation, n = {n} seed(s) "
                 f"(FID/IS features: {base['feature_extractor']})")
    return fig


def plot_strategies(table: pd.DataFrame) -> Figure:
    """Gain over the baseline per arm as bars with their CI, IR and E on top."""
    arms = table[table["arm"] != BASELINE].reset_index(drop=True)
    fig = Figure(figsize=(max(7, 1.1 * len(arms) + 2), 4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(arms))
    ax.bar(x, arms["gain_pp"].astype(float),
           yerr=_errors(arms, "gain_pp", "gain_ci_low", "gain_ci_high"), capsize=4,
           color=["tab:blue" if s in SYNTHETIC_STRATEGIES else "tab:green"
                  for s in arms["strategy"]])
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    for i, row in enumerate(arms.to_dict("records")):
        label = f"{row['gain_pp']:+.1f}"
        if is_number(row["improvement_ratio"]):
            label += f"\nIR {row['improvement_ratio']:.2f}"
        if is_number(row["equivalent_real"]):
            label += f"\nE {row['equivalent_real']:.0f}"
        top = row["gain_ci_high"] if is_number(row["gain_ci_high"]) else row["gain_pp"]
        ax.text(i, max(top, row["gain_pp"], 0.0), label, ha="center", va="bottom", fontsize=8)
    ax.margins(y=0.15)  # room for the labels above the highest interval
    ax.set_xticks(list(x), arms["label"], rotation=20, ha="right")
    n = "/".join(map(str, sorted(set(table["n_seeds"].astype(int)))))
    ax.set(title=f"Training strategy ablation: gain over real only (95 % CI, n = {n})",
           ylabel="Top-1 gain (pp)")
    return fig


def plot_exchange_rate(table: pd.DataFrame) -> Figure:
    """The real-augmentation curve (gain vs extra real images) with the synthetic arms on it."""
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    curve = table[table["role"].isin(["baseline", "curve"])]
    curve = curve.assign(x=np.where(curve["role"].eq("baseline"), 0.0,
                                    curve["n_extra_real"].astype(float))).sort_values("x")
    if len(curve) >= 2:
        ax.errorbar(curve["x"], curve["gain_pp"].astype(float),
                    yerr=_errors(curve, "gain_pp", "gain_ci_low", "gain_ci_high"),
                    fmt="o", color="tab:green", capsize=3, label="real images added (curve)")
        xs, _, pchip = interpolated_curve(curve["x"].tolist(),
                                          curve["gain_pp"].astype(float).tolist())
        dense = np.linspace(xs[0], xs[-1], 200)
        ax.plot(dense, pchip(dense), color="tab:green", alpha=0.6,
                label="monotone PCHIP")
    placed = table[table["equivalent_real"].map(is_number)]
    for row, color in zip(placed.to_dict("records"), _ARM_COLORS * len(placed), strict=False):
        low, high = row["equivalent_real_ci_low"], row["equivalent_real_ci_high"]
        e = row["equivalent_real"]
        xerr = [[e - low if is_number(low) else 0.0], [high - e if is_number(high) else 0.0]]
        ci = with_ci(e, low, high, "{:.0f}", open_high=True).removeprefix(f"{e:.0f} ")
        ax.errorbar([e], [row["gain_pp"]], xerr=xerr, fmt="s", capsize=3, color=color,
                    label=f"{row['label']}: {row['n_synthetic']:.0f} synthetic ≈ {e:.0f} real "
                          f"{ci}".rstrip())
    unplaced = [f"{r['label']}: {r['exchange_note']}" for r in table.to_dict("records")
                if isinstance(r["exchange_note"], str)]
    if unplaced:
        ax.text(0.01, 0.01, "\n".join(["not on the curve:", *map(_short, unplaced)]),
                transform=ax.transAxes, fontsize=7, va="bottom")
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set(title="Exchange rate: synthetic arms on the real-augmentation curve",
           xlabel="extra real images added (from real_reserve)", ylabel="Top-1 gain (pp)")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def _short(text: str, width: int = 110) -> str:
    """`text` cut to `width` characters (a plot annotation stays inside its axes)."""
    return text if len(text) <= width else text[:width - 1] + "…"
