"""The node that turns per-arm metrics into a results table with its statistics and the
comparisons behind the verdicts (Markdown: `markdown.py`, figures: `plots.py`).

Statistics (`genaug.significance`): n, mean Top-1 and its Student-t interval over seeds; every
arm against the baseline and the configured pairs (`reporting.<ablation>.comparisons`) as paired
differences with an interval and a p-value (paired t-test over seeds, or exact McNemar over the
test images with one seed), Holm-adjusted over the table's comparisons. Exchange rate
(`genaug.metrics.equivalent_real`): every synthetic arm placed on the real-augmentation curve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from genaug.metrics import (
    absolute_gain,
    equivalent_real,
    exchange_rate,
    improvement_ratio,
    monotone_curve,
    relative_gain,
)
from genaug.schemas.ablations import BASELINE
from genaug.schemas.reporting import AblationReport
from genaug.significance import (
    Comparison,
    Verdict,
    decide,
    holm,
    mean_ci,
    paired_comparison,
)

REAL_AUGMENTED = "real_augmented"
SYNTHETIC_STRATEGIES = ("joint", "sequential")

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
    decided = _decide(_comparisons(arms, metrics, report), report)
    vs_base = {c.arm: (c, p_holm, v) for c, p_holm, _, v in decided if c.reference == BASELINE}
    references = {arm: paired_comparison(arm, BASELINE, _by_seed(metrics[arm]), _by_seed(base),
                                         _correct(metrics[arm]), _correct(base),
                                         report.confidence) for arm in curve_arms}
    curve = _curve(base, {arm: metrics[arm] for arm in curve_arms})
    rows = [_row(arm, metrics, report, inputs.get(f"{arm}__filter") or {}, vs_base.get(arm),
                 references.get(arm), curve) for arm in metrics]
    return pd.DataFrame(rows, columns=COLUMNS), _comparisons_table(decided, report)


Decided = tuple[Comparison, float | None, float | None, Verdict]


def _decide(comparisons: list[Comparison], report: AblationReport) -> list[Decided]:
    """Each comparison with its Holm-adjusted p, Holm-adjusted TOST p and verdict."""
    adjusted = holm([c.p_value for c in comparisons])
    adjusted_tost = holm([c.p_tost for c in comparisons])
    return [(c, p, pt, decide(c, p, pt, report.equivalence_margin_pp, report.alpha,
                               len(comparisons)))
            for c, p, pt in zip(comparisons, adjusted, adjusted_tost, strict=True)]


def _comparisons_table(decided: list[Decided], report: AblationReport) -> pd.DataFrame:
    """The comparisons behind the verdicts, one row each (comparisons.csv)."""
    return pd.DataFrame([{
        "arm": c.arm, "reference": c.reference, "n": c.n, "diff_pp": c.diff_pp,
        "ci_low": c.low_pp, "ci_high": c.high_pp, "sd_pp": c.sd_pp, "p_value": c.p_value,
        "p_holm": p_holm, "distinguishable": p_holm is not None and p_holm < report.alpha,
        "margin_pp": report.equivalence_margin_pp, "p_tost": c.p_tost, "p_tost_holm": p_tost,
        "verdict": v.outcome, "seeds_needed": v.seeds_needed, "resolve_by": v.route,
        "verdict_note": v.reason, "test": c.test, "note": c.note,
    } for c, p_holm, p_tost, v in decided], columns=COMPARISON_COLUMNS)


def _row(arm: str, metrics: Mapping[str, Mapping[str, Any]], report: AblationReport,
         summary: Mapping[str, Any], tested: tuple[Comparison, float | None, Verdict] | None,
         reference: Comparison | None, curve: tuple[list[float], list[float]] | None
         ) -> dict[str, Any]:
    """An arm's row: Top-1 with its CI, the gain (tested, or a curve arm's reference), IR, E,
    FID/IS and the verdict against the baseline."""
    m, base = metrics[arm], metrics[BASELINE]
    estimate = mean_ci(m["top1"], report.confidence)
    gain, p_holm, verdict = tested if tested else (reference, None, None)
    return {
        "arm": arm,
        "label": report.labels.get(arm, arm),
        "role": "baseline" if arm == BASELINE else "curve" if reference else "arm",
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
        # A t interval of an accuracy can pass 0 or 1 with few seeds: shown within [0, 1].
        "top1_ci_low": None if estimate.low is None else max(0.0, estimate.low),
        "top1_ci_high": None if estimate.high is None else min(1.0, estimate.high),
        "gain_pp": absolute_gain(m["top1_mean"], base["top1_mean"]),
        "gain_ci_low": gain.low_pp if gain else None,
        "gain_ci_high": gain.high_pp if gain else None,
        "p_value": gain.p_value if tested else None,
        "p_holm": p_holm,
        "test": gain.test if gain else None,
        "relative_gain": relative_gain(m["top1_mean"], base["top1_mean"]).value,
        **_ir(m, metrics.get(REAL_AUGMENTED), base),
        **_exchange(m, gain, curve),
        **{key: m.get(key) for key in ("fid", "inception_score", "inception_score_std",
                                       "fid_floor", "inception_score_floor", "n_floor",
                                       "feature_extractor")},
        "fid_set": _fid_set(arm, m.get("strategy")),
        "verdict": verdict.outcome if verdict else None,
        "seeds_needed": verdict.seeds_needed if verdict else None,
    }


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


