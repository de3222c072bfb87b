"""Nodes that turn per-arm metrics into a results table with its statistics, the comparisons
behind the verdict line, Markdown, and plots with confidence intervals.

Statistics (`genaug.significance`): n, mean Top-1 and its Student-t interval over seeds; every
arm against the baseline and the configured pairs (`reporting.<ablation>.comparisons`) as paired
differences with an interval and a p-value (paired t-test over seeds, or exact McNemar over the
test images with one seed), Holm-adjusted over the table's comparisons. Exchange rate
(`genaug.metrics.equivalent_real`): every synthetic arm placed on the real-augmentation curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.interpolate import PchipInterpolator

from genaug.metrics import (
    absolute_gain,
    equivalent_real,
    exchange_rate,
    improvement_ratio,
    monotone_curve,
    relative_gain,
)
from genaug.pipelines.reporting.formatting import finite, fmt, with_ci
from genaug.pipelines.reporting.verdicts import comparison_line, verdict
from genaug.schemas.reporting import AblationReport
from genaug.significance import Comparison, decide, holm, mean_ci, paired_comparison

BASELINE = "baseline"
REAL_AUGMENTED = "real_augmented"
SYNTHETIC_STRATEGIES = ("joint", "sequential")
# Synthetic arms on the exchange-rate plot (green is the real-augmentation curve's).
_ARM_COLORS = ["tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:pink"]

COLUMNS = [
    "arm", "label", "role", "strategy", "drop_fraction", "n_real", "n_synthetic", "n_extra_real",
    "n_seeds", "top1_per_seed", "top1_mean", "top1_std", "top1_ci_low", "top1_ci_high",
    "gain_pp", "gain_ci_low", "gain_ci_high", "p_value", "p_holm", "test", "relative_gain",
    "improvement_ratio", "ir_note", "equivalent_real", "equivalent_real_ci_low",
    "equivalent_real_ci_high", "exchange_rate", "exchange_rate_ci_low", "exchange_rate_ci_high",
    "exchange_note", "fid", "inception_score", "inception_score_std", "fid_floor",
    "inception_score_floor", "n_floor", "feature_extractor", "fid_set", "verdict",
    "seeds_needed",
]
COMPARISON_COLUMNS = ["arm", "reference", "n", "diff_pp", "ci_low", "ci_high", "sd_pp",
                      "p_value", "p_holm", "distinguishable", "margin_pp", "p_tost",
                      "p_tost_holm", "verdict", "seeds_needed", "resolve_by", "verdict_note",
                      "test", "note"]


def build_results_table(report: AblationReport, **inputs: Mapping[str, Any]
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per arm (accuracy with its CI, paired gain vs `baseline`, IR, E, FID/IS) and the
    table's comparisons (every arm vs the baseline, then `report.comparisons`), Holm-adjusted.

    Inputs are keyword arguments `<arm>__metrics` (an arm of the ablation, in table order),
    `<arm>__filter` (the filter summary behind an arm's synthetic images) and `<arm>__curve`
    (an arm of the real-augmentation curve: a reference row after the arms, with its gain and
    CI but outside the tested family, and a point of the curve that gives E).
    """
    arms = [key.removesuffix("__metrics") for key in inputs if key.endswith("__metrics")]
    curve_arms = [key.removesuffix("__curve") for key in inputs if key.endswith("__curve")]
    if BASELINE not in arms:
        raise ValueError(f"The results table needs a '{BASELINE}' arm; got arms {arms}.")
    metrics = {arm: inputs[f"{arm}__metrics"] for arm in arms}
    metrics.update({arm: inputs[f"{arm}__curve"] for arm in curve_arms})
    base = metrics[BASELINE]
    comparisons = _comparisons(arms, metrics, report)
    adjusted = holm([c.p_value for c in comparisons])
    adjusted_tost = holm([c.p_tost for c in comparisons])
    verdicts = [decide(c, p, pt, report.equivalence_margin_pp, report.alpha, len(comparisons))
                for c, p, pt in zip(comparisons, adjusted, adjusted_tost, strict=True)]
    vs_base = {c.arm: (c, p) for c, p in zip(comparisons, adjusted, strict=True)
               if c.reference == BASELINE}
    verdict_vs_base = {c.arm: v for c, v in zip(comparisons, verdicts, strict=True)
                       if c.reference == BASELINE}
    references = {arm: paired_comparison(arm, BASELINE, _by_seed(metrics[arm]), _by_seed(base),
                                         _correct(metrics[arm]), _correct(base),
                                         report.confidence) for arm in curve_arms}
    curve = _curve(base, {arm: metrics[arm] for arm in curve_arms})
    rows = []
    for arm, m in metrics.items():
        summary = inputs.get(f"{arm}__filter") or {}
        estimate = mean_ci(m["top1"], report.confidence)
        # A t interval of an accuracy can pass 0 or 1 with few seeds: shown within [0, 1].
        top1_low = None if estimate.low is None else max(0.0, estimate.low)
        top1_high = None if estimate.high is None else min(1.0, estimate.high)
        gain, p_holm = vs_base.get(arm, (references.get(arm), None))
        tested = arm in vs_base
        rows.append({
            "arm": arm,
            "label": report.labels.get(arm, arm),
            "role": "baseline" if arm == BASELINE else "curve" if arm in references else "arm",
            "strategy": m.get("strategy"),
            "drop_fraction": summary.get("drop_fraction", 0.0 if arm == BASELINE else None),
            "n_real": m.get("n_real"),
            "n_synthetic": m.get("n_synthetic"),
            "n_extra_real": m.get("n_extra_real"),
            "n_seeds": estimate.n,
            "top1_per_seed": ";".join(f"{s}:{v:.6f}" for s, v in zip(m["seeds"], m["top1"],
                                                                      strict=True)),
            "top1_mean": m["top1_mean"],
            "top1_std": m.get("top1_std"),
            "top1_ci_low": top1_low,
            "top1_ci_high": top1_high,
            "gain_pp": absolute_gain(m["top1_mean"], base["top1_mean"]),
            "gain_ci_low": gain.low_pp if gain else None,
            "gain_ci_high": gain.high_pp if gain else None,
            "p_value": gain.p_value if tested else None,
            "p_holm": p_holm,
            "test": gain.test if gain else None,
            "relative_gain": relative_gain(m["top1_mean"], base["top1_mean"]).value,
            **_ir(m, metrics.get(REAL_AUGMENTED), base),
            **_exchange(m, gain, curve),
            "fid": m.get("fid"),
            "inception_score": m.get("inception_score"),
            "inception_score_std": m.get("inception_score_std"),
            "fid_floor": m.get("fid_floor"),
            "inception_score_floor": m.get("inception_score_floor"),
            "n_floor": m.get("n_floor"),
            "feature_extractor": m.get("feature_extractor"),
            "fid_set": _fid_set(arm, m.get("strategy")),
            "verdict": verdict_vs_base[arm].outcome if tested else None,
            "seeds_needed": verdict_vs_base[arm].seeds_needed if tested else None,
        })
    table = pd.DataFrame(rows, columns=COLUMNS)
    tested_table = pd.DataFrame([{
        "arm": c.arm, "reference": c.reference, "n": c.n, "diff_pp": c.diff_pp,
        "ci_low": c.low_pp, "ci_high": c.high_pp, "sd_pp": c.sd_pp, "p_value": c.p_value,
        "p_holm": p_holm, "distinguishable": p_holm is not None and p_holm < report.alpha,
        "margin_pp": report.equivalence_margin_pp, "p_tost": c.p_tost, "p_tost_holm": p_tost,
        "verdict": v.outcome, "seeds_needed": v.seeds_needed, "resolve_by": v.route,
        "verdict_note": v.reason, "test": c.test, "note": c.note,
    } for c, p_holm, p_tost, v in zip(comparisons, adjusted, adjusted_tost, verdicts,
                                      strict=True)], columns=COMPARISON_COLUMNS)
    return table, tested_table


def _comparisons(arms: list[str], metrics: Mapping[str, Mapping[str, Any]],
                 report: AblationReport) -> list[Comparison]:
    """Every tested arm vs the baseline, then the configured pairs (arm − reference, which may
    name a curve arm)."""
    pairs = [(arm, BASELINE) for arm in arms if arm != BASELINE]
    for arm, reference in report.comparisons:
        missing = [a for a in (arm, reference) if a not in metrics]
        if missing:
            raise ValueError(f"reporting comparison [{arm}, {reference}] names "
                             f"{', '.join(missing)}, not an arm of this table ({list(metrics)}).")
        pairs.append((arm, reference))
    return [paired_comparison(arm, ref, _by_seed(metrics[arm]), _by_seed(metrics[ref]),
                              _correct(metrics[arm]), _correct(metrics[ref]), report.confidence,
                              report.equivalence_margin_pp)
            for arm, ref in pairs]


def _by_seed(metrics: Mapping[str, Any]) -> dict[int, float]:
    """An arm's Top-1 by seed."""
    return dict(zip(metrics["seeds"], metrics["top1"], strict=True))


def _correct(metrics: Mapping[str, Any]) -> dict[int, list[int]] | None:
    """An arm's per-test-image correctness by seed (None for metrics saved without it)."""
    saved = metrics.get("test_correct")
    if not saved:
        return None
    return {int(seed): [int(c) for c in bits] for seed, bits in saved.items()}


def _ir(m: Mapping[str, Any], real_aug: Mapping[str, Any] | None, base: Mapping[str, Any]
        ) -> dict[str, Any]:
    """The Improvement Ratio of a synthetic arm against `real_augmented`, or why it is blank."""
    if real_aug is None or m.get("strategy") not in SYNTHETIC_STRATEGIES:
        return {"improvement_ratio": None, "ir_note": None}
    ir, note = improvement_ratio(m["top1_mean"], real_aug["top1_mean"], base["top1_mean"])
    return {"improvement_ratio": ir, "ir_note": note}


def _curve(base: Mapping[str, Any], arms: Mapping[str, Mapping[str, Any]]
           ) -> tuple[list[float], list[float]] | None:
    """The real-augmentation curve: (extra real images, gain pp), the baseline as its 0 point."""
    if not arms:
        return None
    points = sorted((float(m["n_extra_real"]), absolute_gain(m["top1_mean"], base["top1_mean"]))
                    for m in arms.values())
    return [0.0, *(x for x, _ in points)], [0.0, *(y for _, y in points)]


def _exchange(m: Mapping[str, Any], gain: Comparison | None,
              curve: tuple[list[float], list[float]] | None) -> dict[str, Any]:
    """E (with the gain's interval mapped through the curve) and n_synthetic / E."""
    keys = ("equivalent_real", "equivalent_real_ci_low", "equivalent_real_ci_high",
            "exchange_rate", "exchange_rate_ci_low", "exchange_rate_ci_high", "exchange_note")
    out: dict[str, Any] = dict.fromkeys(keys)
    if m.get("strategy") not in SYNTHETIC_STRATEGIES or gain is None or gain.diff_pp is None:
        return out
    if curve is None:
        out["exchange_note"] = "no real-augmentation curve in this run"
        return out
    x, y = curve
    e = equivalent_real(gain.diff_pp, x, y)
    low = high = None
    if e.value is not None and gain.low_pp is not None and gain.high_pp is not None:
        start = monotone_curve(x, y)[1][0]
        low = 0.0 if gain.low_pp <= start else equivalent_real(gain.low_pp, x, y).value
        high = equivalent_real(gain.high_pp, x, y).value
    n_syn = float(m.get("n_synthetic") or 0)
    rate = exchange_rate(n_syn, e.value)
    out.update({
        "equivalent_real": e.value, "equivalent_real_ci_low": low,
        "equivalent_real_ci_high": high, "exchange_rate": rate.value,
        "exchange_rate_ci_low": exchange_rate(n_syn, high).value,
        "exchange_rate_ci_high": exchange_rate(n_syn, low).value,
        "exchange_note": e.reason or rate.reason,
    })
    return out


def results_markdown(table: pd.DataFrame, comparisons: pd.DataFrame,
                     report: AblationReport) -> str:
    """The results table as Markdown, the comparisons, a verdict line and the definitions."""
    level = f"{report.confidence:.0%}"
    shown = pd.DataFrame({
        "arm": table["label"],
        "strategy": table["strategy"],
        "drop": table["drop_fraction"].map(lambda v: fmt(v, "{:.0%}")),
        "images added": [_added(syn, extra) for syn, extra in
                         zip(table["n_synthetic"], table["n_extra_real"], strict=True)],
        "n": table["n_seeds"],
        f"Top-1 (%) [{level} CI]": [_top1(row) for row in table.to_dict("records")],
        f"gain (pp) [{level} CI]": [
            with_ci(row["gain_pp"], row["gain_ci_low"], row["gain_ci_high"], "{:+.2f}")
            if row["arm"] != BASELINE else "" for row in table.to_dict("records")],
        "p (Holm)": [_p_cell(p, ph) for p, ph in zip(table["p_value"], table["p_holm"],
                                                     strict=True)],
        "IR": table["improvement_ratio"].map(lambda v: fmt(v, "{:.2f}")),
        "E real imgs [CI]": [with_ci(row["equivalent_real"], row["equivalent_real_ci_low"],
                                      row["equivalent_real_ci_high"], "{:.0f}", open_high=True)
                             for row in table.to_dict("records")],
        "synth per real": table["exchange_rate"].map(lambda v: fmt(v, "{:.2f}")),
        "FID ↓": table["fid"].map(lambda v: fmt(v, "{:.2f}")),
        "IS ↑": table["inception_score"].map(lambda v: fmt(v, "{:.2f}")),
        "real FID / IS": [f"{fmt(f, '{:.2f}')} / {fmt(i, '{:.2f}')}" if finite(f) else ""
                          for f, i in zip(table["fid_floor"], table["inception_score_floor"],
                                          strict=True)],
        "FID/IS on": table["fid_set"],
        "features": table["feature_extractor"],
    })
    labels = dict(zip(table["arm"], table["label"], strict=True))
    seeds = sorted(set(table["n_seeds"].dropna().astype(int)))
    notes = [f"* IR of `{label}`: {note}." for label, note in
             zip(table["label"], table["ir_note"], strict=True) if isinstance(note, str)]
    notes += [f"* E of `{label}`: {note}." for label, note in
              zip(table["label"], table["exchange_note"], strict=True) if isinstance(note, str)]
    lines = [comparison_line(row, labels) for row in comparisons.to_dict("records")]
    return "\n".join([
        f"# {report.title}",
        "",
        shown.to_markdown(index=False, disable_numparse=True),
        "",
        verdict(comparisons, labels, report.alpha),
        "",
        f"Comparisons (arm − reference, {level} CI; p Holm-adjusted over the "
        f"{len(comparisons)} comparisons of this table; better / worse when Holm p < "
        f"{report.alpha:g}; equivalent when a paired TOST shows |difference| < "
        f"{report.equivalence_margin_pp:g} pp, Holm-adjusted in its own family; otherwise "
        "inconclusive, with the seeds that would resolve it):",
        "",
        *lines,
        "",
        f"n = seeds per arm ({'/'.join(map(str, seeds))}); Top-1 on the real test split, mean "
        f"and Student-t {level} CI over seeds (none for n = 1). gain = Top-1(arm) − "
        "Top-1(baseline) in percentage points, paired by seed: a paired t-test over seeds, or"
        " with one seed an exact McNemar test and Newcombe's paired score interval over the "
        "test images (measuring test-set noise only, not training noise). IR = gain(arm) / "
        "gain(real_augmented), the real-augmented arm adding as many real images as the arm "
        "adds synthetic ones (IR = 1: a synthetic image is worth a real one; blank when not "
        "defined). E = the extra real images that give the same gain on the real-augmentation"
        " curve (monotone PCHIP interpolation; its CI is the gain's CI mapped through the "
        "curve, curve noise not included; a lower end below the curve is 0, '>' = above it); "
        "synth per real = n_synthetic / E. FID/IS are computed with the named feature "
        "extractor on the set in 'FID/IS on' (the baseline row: the unfiltered pool); real "
        "FID / IS: a set of real images (from real_reserve) of the same size and class counts"
        " against the same reference: the best a generator can reach here.",
        "",
        *notes,
        *([""] if notes else []),
    ])


def _top1(row: Mapping[str, Any]) -> str:
    """`84.34 [83.10, 85.58]`, or `84.34` for one seed (no interval, no `± 0.00`)."""
    mean = 100 * row["top1_mean"]
    if not finite(row["top1_ci_low"]):
        return f"{mean:.2f}"
    return f"{mean:.2f} [{100 * row['top1_ci_low']:.2f}, {100 * row['top1_ci_high']:.2f}]"


def _p_cell(p: Any, p_holm: Any) -> str:
    """`0.21 (0.63)`: raw and Holm-adjusted p-value."""
    if not finite(p):
        return ""
    return f"{p:.2g} ({p_holm:.2g})" if finite(p_holm) else f"{p:.2g}"


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
        points = [(a, b) for a, b in zip(xs, ys, strict=True) if finite(b)]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label="synthetic set")
        floors = [(a, b) for a, b in zip(xs, [base[floor], *arms[floor].tolist()], strict=True)
                  if finite(b)]
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
        if finite(row["improvement_ratio"]):
            label += f"\nIR {row['improvement_ratio']:.2f}"
        if finite(row["equivalent_real"]):
            label += f"\nE {row['equivalent_real']:.0f}"
        top = row["gain_ci_high"] if finite(row["gain_ci_high"]) else row["gain_pp"]
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
        xs, ys = monotone_curve(curve["x"].tolist(), curve["gain_pp"].astype(float).tolist())
        dense = np.linspace(xs[0], xs[-1], 200)
        ax.plot(dense, PchipInterpolator(xs, ys)(dense), color="tab:green", alpha=0.6,
                label="monotone PCHIP")
    placed = table[table["equivalent_real"].map(finite)]
    for row, color in zip(placed.to_dict("records"), _ARM_COLORS * len(placed), strict=False):
        low, high = row["equivalent_real_ci_low"], row["equivalent_real_ci_high"]
        e = row["equivalent_real"]
        xerr = [[e - low if finite(low) else 0.0], [high - e if finite(high) else 0.0]]
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


def _fid_set(arm: str, strategy: Any) -> str:
    """Which images an arm's FID/IS describe, from how the ablations wire its evaluation.

    The baseline trains on real images only; its evaluation is fed the whole
    `synthetic_pool` (the 0 % point of the threshold curve). Real-augmentation arms are fed the
    real images they add; every other arm a filter's kept images (its own filter's, or those
    of the filtering arm it is paired with, e.g. `sequential`).
    """
    if arm == BASELINE:
        return "unfiltered pool"
    return "added real images" if strategy == REAL_AUGMENTED else "kept images"


def _added(n_synthetic: Any, n_extra_real: Any) -> str:
    """What an arm added to real_train: synthetic images, extra real images, or nothing."""
    if finite(n_extra_real) and n_extra_real > 0:
        return f"{int(n_extra_real)} real"
    if finite(n_synthetic) and n_synthetic > 0:
        return f"{int(n_synthetic)} synthetic"
    return "—"
