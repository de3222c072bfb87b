"""The data-size ablation's report: per base size, each arm against that size's baseline (gain,
E, exchange rate, from the same results table as the other ablations); the study's law fitted
on the synthetic arms' points; a plot against the base size; and where genaug agrees with the
study."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from kedro.pipeline import Node, Pipeline
from matplotlib.figure import Figure

from genaug.common.numbers import is_number
from genaug.exchange_law import fit_law, law_equivalent
from genaug.pipelines.reporting.markdown import results_markdown
from genaug.pipelines.reporting.nodes import build_results_table
from genaug.schemas.ablations import BASELINE
from genaug.schemas.data_size import DATA_SIZE, SizeChain
from genaug.schemas.reporting import DataSizeReport

_EXTRA = ["train_per_class", "pool_multiple"]


@dataclass(frozen=True)
class SizeTables:
    """The data-size arms of every base size, tabled size by size."""

    chains: tuple[SizeChain, ...]

    def table(self, report: DataSizeReport, **inputs: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        """One results table per size (its own baseline, curve and Holm family), stacked, with
        the size and each synthetic arm's pool multiple as columns."""
        tables, comparisons = [], []
        for chain in self.chains:
            named = {BASELINE: chain.baseline}
            own = {f"{BASELINE}__metrics": inputs[f"{chain.baseline}__metrics"]}
            own.update({f"{arm}__metrics": inputs[f"{arm}__metrics"] for arm in chain.synthetic})
            own.update({f"{arm}__filter": inputs[f"{arm}__filter"] for arm in chain.synthetic})
            own.update({f"{arm}__curve": inputs[f"{arm}__metrics"] for arm in chain.curve})
            results, tested = build_results_table(report.ablation_report(), **own)
            multiples = {arm: chain.pool_multiples[pool] for arm, pool in chain.synthetic.items()}
            results = results.replace({"arm": named, "label": named})
            results.insert(1, "train_per_class", chain.per_class)
            results.insert(2, "pool_multiple", results["arm"].map(multiples))
            tested = tested.replace({"arm": named, "reference": named})
            tested.insert(0, "train_per_class", chain.per_class)
            tables.append(results)
            comparisons.append(tested)
        return pd.concat(tables, ignore_index=True), pd.concat(comparisons, ignore_index=True)


def synthetic_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The synthetic arms' rows (those with a pool multiple)."""
    return results[results["pool_multiple"].map(is_number)]


def fit_exchange_law(results: pd.DataFrame, report: DataSizeReport) -> dict[str, Any]:
    """The law fitted on every synthetic arm placed on its size's curve (E > 0), with the
    points it used and those it could not."""
    rows = synthetic_rows(results)
    usable = rows["equivalent_real"].map(is_number)
    fit = fit_law(rows["n_real"].astype(float), rows["n_synthetic"].astype(float),
                  rows["equivalent_real"].where(usable, np.nan).astype(float), report.law_k,
                  report.confidence)
    points = [{"arm": r["arm"], "n_base": int(r["n_real"]), "n_synthetic": int(r["n_synthetic"]),
               "equivalent_real": r["equivalent_real"] if is_number(r["equivalent_real"]) else None,
               "used": bool(is_number(r["equivalent_real"]) and r["equivalent_real"] > 0)}
              for r in rows.to_dict("records")]
    return {**fit.to_dict(), "confidence": report.confidence, "points": points,
            "published": [p.to_dict() for p in report.published]}


def _interval(value: Any, low: Any, high: Any, fmt: str = "{:+.2f}") -> str:
    """`v [low, high]` (or n/a)."""
    if not is_number(value):
        return "n/a"
    if not (is_number(low) and is_number(high)):
        return fmt.format(value)
    return f"{fmt.format(value)} [{fmt.format(low)}, {fmt.format(high)}]"


def summary_markdown(results: pd.DataFrame, law: dict[str, Any], report: DataSizeReport) -> str:
    """Per size: each synthetic arm's gain, verdict, E and price; the law beside the study's
    constants; where genaug's numbers agree with the study's claims."""
    rows = synthetic_rows(results)
    seeds = sorted(set(results["n_seeds"].dropna().astype(int)))
    lines = [f"**{report.title}** (n = {', '.join(map(str, seeds))} seeds per arm, paired "
             f"within each size; Holm α = {report.alpha} within each size; equivalence margin "
             f"{report.equivalence_margin_pp} pp):", ""]
    for r in rows.to_dict("records"):
        e = r["equivalent_real"]
        price = (f"E = {e:.0f} real images, {r['exchange_rate']:.1f} synthetic per real"
                 if is_number(e) and is_number(r["exchange_rate"])
                 else f"E undefined ({r['exchange_note']})")
        lines.append(f"- {r['train_per_class']} real/class, {int(r['pool_multiple'])}× pool "
                     f"({int(r['n_synthetic'])} synthetic): gain "
                     f"{_interval(r['gain_pp'], r['gain_ci_low'], r['gain_ci_high'])} pp — "
                     f"{r['verdict']}; {price}")
    lines += ["", _law_line(law), "", *_published_lines(law), "", *claims(results, law)]
    return "\n".join(lines) + "\n"


def _law_line(law: dict[str, Any]) -> str:
    """The fitted constants with their intervals, or why there are none."""
    if law["c2"] is None:
        return f"The study's law was not fitted: {law['note']}."
    level = f"{law['confidence']:.0%}"
    c1_ci, c2_ci = law["c1_ci"] or (None, None), law["c2_ci"] or (None, None)
    return (f"The study's law n_syn/n_base = c1^(n_base/k)·(c2^(n_real+/n_base) − 1) fitted on "
            f"{law['n_points']} points: c1 = {_interval(law['c1'], *c1_ci, fmt='{:.3g}')}, "
            f"c2 = {_interval(law['c2'], *c2_ci, fmt='{:.3g}')} ({level} intervals from the "
            f"fit's covariance; k = {law['k']:g} images; RMS residual of ln(n_syn/n_base) "
            f"{law['rmse_log']:.2f})" + (f"; {law['note']}" if law["note"] else "") + ".")


def _published_lines(law: dict[str, Any]) -> list[str]:
    """The study's constants the fit is compared with."""
    return ["The study's published exchange rates c2:",
            *(f"- {p['dataset']}, {p['generator']}: c2 = {p['c2']:g} ({p['source']})"
              for p in law["published"])] if law["published"] else []


def claims(results: pd.DataFrame, law: dict[str, Any]) -> list[str]:
    """Where genaug's numbers agree or disagree with the study's claims, in words."""
    rows = synthetic_rows(results)
    lines = []
    largest = rows[rows["pool_multiple"] == rows["pool_multiple"].max()].sort_values(
        "train_per_class")
    if len(largest) >= 2:
        first, last = largest.iloc[0], largest.iloc[-1]
        falls = float(first["gain_pp"]) > float(last["gain_pp"])
        apart = (is_number(first["gain_ci_low"]) and is_number(last["gain_ci_high"])
                 and (first["gain_ci_low"] > last["gain_ci_high"]
                      or last["gain_ci_low"] > first["gain_ci_high"]))
        said = ("agrees" if falls and apart else "disagrees" if apart
                else "is consistent with it but does not establish it" if falls
                else "does not show it")
        lines.append(f"- *Synthetic data helps most when real data is scarce*: the "
                     f"{int(first['pool_multiple'])}× arm gains {float(first['gain_pp']):+.2f} pp "
                     f"at {first['train_per_class']} real/class and "
                     f"{float(last['gain_pp']):+.2f} pp at {last['train_per_class']} (intervals "
                     f"{'apart' if apart else 'overlapping'}): genaug {said}.")
    if law["c1"] is not None and law["c1_ci"] is not None:
        low, high = law["c1_ci"]
        said = ("agrees (c1 > 1: the price rises)" if low > 1
                else "disagrees (c1 < 1: the price falls)" if high < 1
                else "cannot tell (c1's interval contains 1)")
        lines.append(f"- *A real image costs more synthetic ones as the base set grows*: "
                     f"genaug {said}.")
    published = [p["c2"] for p in law["published"]]
    if law["c2"] is not None and law["c2_ci"] is not None and published:
        low, high = law["c2_ci"]
        first, last = min(published), max(published)
        where = ("lies below" if high < first else "lies above" if low > last
                 else "lies within" if first <= low and high <= last
                 else "is too wide to place against")
        lines.append(f"- *The exchange rate c2*: genaug's {law['c2']:.3g} [{low:.3g}, {high:.3g}] "
                     f"{where} the published range {first:g}–{last:g} (another dataset, "
                     "generator and classifier: a comparison of magnitude).")
    return ["Against the study's claims:", *lines] if lines else []


def plot_data_size(results: pd.DataFrame, law: dict[str, Any]) -> Figure:
    """Gain and exchange rate against the base size, one line per pool multiple, with the
    law's exchange rate dashed."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    gain_ax, rate_ax = fig.subplots(1, 2)
    rows = synthetic_rows(results)
    multiples = sorted(set(rows["pool_multiple"]))
    for multiple, group in rows.groupby("pool_multiple"):
        group = group.sort_values("train_per_class")
        # Each pool's points shifted a little along the log axis, so the intervals do not hide
        # each other.
        dodge = 1.04 ** (multiples.index(multiple) - (len(multiples) - 1) / 2)
        x = group["train_per_class"].astype(float) * dodge
        gain_ax.errorbar(x, group["gain_pp"].astype(float), yerr=_errors(group, "gain_pp",
                         "gain_ci_low", "gain_ci_high"), fmt="o-", capsize=3,
                         label=f"{int(multiple)}× pool")
        placed = group[group["exchange_rate"].map(is_number)]
        line = rate_ax.errorbar(placed["train_per_class"].astype(float) * dodge,
                                placed["exchange_rate"].astype(float),
                                yerr=_errors(placed, "exchange_rate", "exchange_rate_ci_low",
                                             "exchange_rate_ci_high"),
                                fmt="o", capsize=3, label=f"{int(multiple)}× pool (measured)")
        if law["c2"] is not None:
            fitted = [r["n_synthetic"] / law_equivalent(r["n_real"], r["n_synthetic"], law["c1"],
                                                        law["c2"], law["k"])
                      for r in group.to_dict("records")]
            rate_ax.plot(x, fitted, "--", color=line[0].get_color(),
                         label=f"{int(multiple)}× pool (law fit)")
    gain_ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    gain_ax.set(xscale="log", title="Gain of synthetic data over each size's baseline",
                xlabel="real images per class (base set)", ylabel="Top-1 gain (pp)")
    placed_any = rows["exchange_rate"].map(is_number).any()
    if not placed_any:
        rate_ax.text(0.5, 0.5, "no arm has an exchange rate (E undefined: see exchange_note)",
                     transform=rate_ax.transAxes, ha="center", fontsize=8)
    rate_ax.set(xscale="log", yscale="log" if placed_any else "linear",
                title="Synthetic images per equally useful real image",
                xlabel="real images per class (base set)",
                ylabel="exchange rate n_syn / E" + (" (log scale)" if placed_any else ""))
    for axis in (gain_ax, rate_ax):
        sizes = sorted(set(results["train_per_class"].astype(int)))
        axis.set_xticks(sizes, [str(s) for s in sizes])
        axis.minorticks_off()
        axis.legend(fontsize=7)
    return fig


def _errors(frame: pd.DataFrame, value: str, low: str, high: str) -> np.ndarray:
    """Asymmetric error bars from interval columns (0 where an end is missing)."""
    v = frame[value].astype(float).to_numpy()
    lo = frame[low].map(lambda x: float(x) if is_number(x) else np.nan).to_numpy()
    hi = frame[high].map(lambda x: float(x) if is_number(x) else np.nan).to_numpy()
    return np.vstack([np.nan_to_num(v - lo), np.nan_to_num(hi - v)]).clip(min=0.0)


def create_data_size_report(chains: Sequence[SizeChain]) -> Pipeline:
    """Results table, Markdown, law fit, summary and plot of the data-size ablation."""
    tables = SizeTables(tuple(chains))
    report = f"params:reporting.{DATA_SIZE}"
    inputs = {"report": report}
    for chain in chains:
        inputs.update({f"{arm}__metrics": f"{arm}.metrics" for arm in chain.arms})
        inputs.update({f"{arm}__filter": f"{arm}.filter_summary" for arm in chain.synthetic})
    results, comparisons = f"{DATA_SIZE}_results", f"{DATA_SIZE}_comparisons"
    return Pipeline([
        Node(tables.table, inputs, [results, comparisons], name=f"{DATA_SIZE}_results_table"),
        Node(_results_markdown, [results, comparisons, report], f"{DATA_SIZE}_results_md",
             name=f"{DATA_SIZE}_results_markdown"),
        Node(fit_exchange_law, [results, report], f"{DATA_SIZE}_law",
             name=f"{DATA_SIZE}_law_fit"),
        Node(summary_markdown, [results, f"{DATA_SIZE}_law", report], f"{DATA_SIZE}_summary",
             name=f"{DATA_SIZE}_summary"),
        Node(plot_data_size, [results, f"{DATA_SIZE}_law"], f"{DATA_SIZE}_plot",
             name=f"{DATA_SIZE}_plot"),
    ], tags=["reporting", DATA_SIZE], namespace="reporting", prefix_datasets_with_namespace=False)


def _results_markdown(results: pd.DataFrame, comparisons: pd.DataFrame,
                      report: DataSizeReport) -> str:
    """The stacked results table and every size's comparisons as Markdown."""
    return results_markdown(results, comparisons, report.ablation_report())
