"""The words under a results table: one line per comparison and the verdict line, from the
four outcomes of `genaug.significance.decide` (better, worse, equivalent, inconclusive)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from genaug.common.numbers import is_number
from genaug.pipelines.reporting.formatting import with_ci


def name(arm: str, labels: Mapping[str, str]) -> str:
    """An arm's display label in backticks."""
    return f"`{labels.get(arm, arm)}`"


def outcome_words(row: Mapping[str, Any]) -> str:
    """`better`, `equivalent within 0.5 pp`, `inconclusive: ~12 seeds would resolve it ...`."""
    outcome = row["verdict"]
    if outcome == "equivalent":
        return f"equivalent within {row['margin_pp']:g} pp"
    if outcome != "inconclusive":
        return str(outcome)
    if is_number(row.get("seeds_needed")):
        goal = ("show the difference" if row["resolve_by"] == "difference"
                else f"show equivalence within {row['margin_pp']:g} pp")
        return (f"inconclusive: about {int(row['seeds_needed'])} seeds would {goal} (80 % "
                "power, if the observed difference and SD are the true ones)")
    note = row.get("verdict_note")
    return f"inconclusive ({note})" if isinstance(note, str) else "inconclusive"


def comparison_line(row: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """`* drop_30 − drop_10: +0.40 [-0.30, +1.10] pp, p = 0.21 (Holm 0.63), TOST p = ...,
    paired t-test over 10 seeds — inconclusive: ...`."""
    pair = f"{name(row['arm'], labels)} − {name(row['reference'], labels)}"
    if not is_number(row["diff_pp"]):
        return f"* {pair}: undefined ({row['note']})."
    ci = with_ci(row["diff_pp"], row["ci_low"], row["ci_high"], "{:+.2f}")
    if not is_number(row["p_value"]):
        return f"* {pair}: {ci} pp, {row['test']}; p undefined ({row['note']}) — " \
               f"{outcome_words(row)}."
    tost = (f", TOST p = {row['p_tost']:.2g} (Holm {row['p_tost_holm']:.2g})"
            if is_number(row.get("p_tost")) and is_number(row.get("p_tost_holm")) else "")
    return (f"* {pair}: {ci} pp, p = {row['p_value']:.2g} (Holm {row['p_holm']:.2g}){tost}, "
            f"{row['test']} — {outcome_words(row)}")


def verdict(comparisons: pd.DataFrame, labels: Mapping[str, str], alpha: float) -> str:
    """One plain-language line: what is better, worse, equivalent, and what is not settled."""
    if comparisons.empty:
        return "**Verdict:** nothing to compare (only the baseline ran)."
    records = comparisons.to_dict("records")
    n = sorted(set(comparisons["n"].astype(int)))
    at_n = f"n = {'/'.join(map(str, n))} seed{'s' if n != [1] else ''}"
    margin = records[0]["margin_pp"]
    groups: dict[str, list[str]] = {"better": [], "worse": [], "equivalent": [],
                                    "inconclusive": []}
    for row in records:
        pair = f"{name(row['arm'], labels)} − {name(row['reference'], labels)}"
        if row["verdict"] in ("better", "worse"):
            pair += f" ({row['diff_pp']:+.2f} pp, Holm p = {row['p_holm']:.2g})"
        elif row["verdict"] == "inconclusive" and is_number(row.get("seeds_needed")):
            pair += f" (~{int(row['seeds_needed'])} seeds)"
        groups[row["verdict"]].append(pair)
    heads = {"better": "better", "worse": "worse",
             "equivalent": f"equivalent within {margin:g} pp", "inconclusive": "inconclusive"}
    parts = [f"{heads[key]}: {', '.join(items)}" for key, items in groups.items() if items]
    settled = len(records) - len(groups["inconclusive"])
    return (f"**Verdict** ({at_n}, Holm α = {alpha:g}, margin {margin:g} pp; {settled} of "
            f"{len(records)} comparisons settled): " + "; ".join(parts) + ".")


def summary_markdown(table: pd.DataFrame, comparisons: pd.DataFrame, report: Any) -> str:
    """A few lines a reader can quote: each comparison's difference, interval and verdict, and
    the exchange rate of the synthetic arms placed on the real-augmentation curve."""
    labels = dict(zip(table["arm"], table["label"], strict=True))
    n = "/".join(map(str, sorted(set(comparisons["n"].astype(int))))) if len(comparisons) else "?"
    lines = [f"**{report.title}** (n = {n} seeds per arm, paired; Holm α = {report.alpha:g}; "
             f"equivalence margin {report.equivalence_margin_pp:g} pp):", ""]
    for row in comparisons.to_dict("records"):
        pair = f"{name(row['arm'], labels)} − {name(row['reference'], labels)}"
        ci = with_ci(row["diff_pp"], row["ci_low"], row["ci_high"], "{:+.2f}")
        lines.append(f"- {pair}: {ci or 'undefined'} pp — {outcome_words(row)}")
    placed = [row for row in table.to_dict("records") if is_number(row.get("exchange_rate"))]
    if placed:
        rates = ", ".join(f"{name(row['arm'], labels)} {row['exchange_rate']:.1f} "
                          f"(E = {row['equivalent_real']:.0f} real images)" for row in placed)
        lines.append(f"- synthetic images per real image (exchange rate): {rates}")
    return "\n".join(lines) + "\n"
