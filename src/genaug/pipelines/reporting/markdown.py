"""The results table as Markdown: the shown columns, the verdict line, one line per comparison
and the definitions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from genaug.common.numbers import is_number
from genaug.pipelines.reporting.formatting import fmt, with_ci
from genaug.pipelines.reporting.verdicts import comparison_line, verdict
from genaug.schemas.ablations import BASELINE
from genaug.schemas.reporting import AblationReport


def results_markdown(table: pd.DataFrame, comparisons: pd.DataFrame,
                     report: AblationReport) -> str:
    """The results table as Markdown, the comparisons, a verdict line and the definitions."""
    level = f"{report.confidence:.0%}"
    shown = _shown(table, level)
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
        _definitions(level, seeds),
        "",
        *notes,
        *([""] if notes else []),
    ])


def _shown(table: pd.DataFrame, level: str) -> pd.DataFrame:
    """The columns a reader sees, formatted (intervals in brackets, blanks where undefined)."""
    return pd.DataFrame({
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
        "real FID / IS": [f"{fmt(f, '{:.2f}')} / {fmt(i, '{:.2f}')}" if is_number(f) else ""
                          for f, i in zip(table["fid_floor"], table["inception_score_floor"],
                                          strict=True)],
        "FID/IS on": table["fid_set"],
        "features": table["feature_extractor"],
    })


def _definitions(level: str, seeds: list[int]) -> str:
    """What every column and number under the table means."""
    return (f"n = seeds per arm ({'/'.join(map(str, seeds))}); Top-1 on the real test split, mean "
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
            " against the same reference: the best a generator can reach here.")


def _top1(row: Mapping[str, Any]) -> str:
    """`84.34 [83.10, 85.58]`, or `84.34` for one seed (no interval, no `± 0.00`)."""
    mean = 100 * row["top1_mean"]
    if not is_number(row["top1_ci_low"]):
        return f"{mean:.2f}"
    return f"{mean:.2f} [{100 * row['top1_ci_low']:.2f}, {100 * row['top1_ci_high']:.2f}]"


def _p_cell(p: Any, p_holm: Any) -> str:
    """`0.21 (0.63)`: raw and Holm-adjusted p-value."""
    if not is_number(p):
        return ""
    return f"{p:.2g} ({p_holm:.2g})" if is_number(p_holm) else f"{p:.2g}"


def _added(n_synthetic: Any, n_extra_real: Any) -> str:
    """What an arm added to real_train: synthetic images, extra real images, or nothing."""
    if is_number(n_extra_real) and n_extra_real > 0:
        return f"{int(n_extra_real)} real"
    if is_number(n_synthetic) and n_synthetic > 0:
        return f"{int(n_synthetic)} synthetic"
    return "—"
