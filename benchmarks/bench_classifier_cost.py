"""What a cheaper classifier training costs in accuracy: seconds per training and the baseline's
Top-1 with its 95 % CI over seeds, per candidate design, in one table.

Usage (from the project root, on an otherwise idle machine):
    .venv/bin/python benchmarks/bench_classifier_cost.py [--seeds 5] [--threads 2]
        [--candidates fp32 bf16_cl ...] [--ten-seed fp32 w16_bf16_cl]

Every candidate is the conf/base `training` block with a few keys overridden (precision,
channels_last, widths, convs per stage, epochs). Each trains the baseline arm (real_only on
conf/base real_train: 100 images per class) through the training node's engine
(`genaug.pipelines.training.nodes.train_classifier`, the same seeds the pipeline derives), once
per seed, and is scored on the whole real_test split (10 000 images). A joint-shaped training
(half of every batch from a second pool: real_reserve images as the stand-in, the same number of
steps as a synthetic arm) is timed on the first seed: the threshold ablation's arms are of this
shape. `--ten-seed` candidates are trained on seeds 0-9 (the others on the first `--seeds`).

The rule that picks the default: among the candidates trained on 10 seeds whose baseline Top-1 is
within 1 pp of today's fast CNN (fp32, widths 32/64/128, two convs per stage), the cheapest
(joint seconds); candidates within 10 % of the cheapest cost count as equally cheap (this
machine's run-to-run timing noise) and the most accurate of them is taken. `--rerender` applies
the rule again to the rows of the saved results/classifier_cost.md without training.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import time
from typing import Any

import torch

from _common import RESULTS, load_average, write_result
from bench_training import effective, load_data, load_params
from genaug.common.precision import cpu_has_native_bf16
from genaug.models.classifier_training import accuracy_per_seed
from genaug.models.classifiers import unpack_states
from genaug.pipelines.training.nodes import train_classifier
from genaug.significance import mean_ci

REFERENCE = "fp32"
TOLERANCE_PP = 1.0
TIE_BAND = 1.10  # cost ratio within which candidates count as equally cheap
_BASE = {"precision": "fp32", "channels_last": False}
CANDIDATES: dict[str, dict[str, Any]] = {
    "fp32": dict(_BASE),
    "fp32_cl": {"precision": "fp32", "channels_last": True},
    "bf16": {"precision": "bf16", "channels_last": False},
    "bf16_cl": {"precision": "bf16", "channels_last": True},
    "w16_bf16_cl": {"precision": "bf16", "channels_last": True,
                    "fast_cnn": {"widths": [16, 32, 64]}},
    "1conv_bf16_cl": {"precision": "bf16", "channels_last": True,
                      "fast_cnn": {"convs_per_stage": 1}},
    "w24_bf16_cl": {"precision": "bf16", "channels_last": True,
                    "fast_cnn": {"widths": [24, 48, 96]}},
    "e12_bf16_cl": {"precision": "bf16", "channels_last": True, "epochs": 12},
}


def train_and_score(data: dict[str, Any], params: dict[str, Any], overrides: dict[str, Any],
                    seeds: list[int], strategy: str) -> tuple[list[float], list[float]]:
    """Seconds per training and Top-1 on real_test, one per seed."""
    seconds, top1 = [], []
    other = data["reserve"] if strategy == "real_augmented" else None
    for s in seeds:
        cfg = effective(params["training"], {**overrides, "strategy": strategy, "seeds": [s]})
        start = time.perf_counter()
        packed, _ = train_classifier(data["train"], data["names"], other, cfg, params["seed"],
                                     "cpu")
        seconds.append(time.perf_counter() - start)
        if strategy == "real_only":
            acc, _, _ = accuracy_per_seed(cfg, unpack_states(packed), data["test"],
                                          len(data["names"]), torch.device("cpu"), 512)
            top1.append(acc[0])
    return seconds, top1


def _row(name: str, seconds: list[float], joint: float, top1: list[float]) -> dict[str, Any]:
    """One candidate's figures."""
    est = mean_ci(top1)
    return {"name": name, "n": len(top1), "baseline_s": statistics.median(seconds),
            "joint_s": joint, "top1": 100 * est.mean,
            "low": 100 * est.low if est.low is not None else None,
            "high": 100 * est.high if est.high is not None else None,
            "sd": 100 * statistics.stdev(top1) if len(top1) > 1 else None}


def main() -> None:
    """Train every candidate, print and save the table and the SUMMARY line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES),
                        choices=list(CANDIDATES))
    parser.add_argument("--seeds", type=int, default=5, help="seeds per candidate (>= 2)")
    parser.add_argument("--ten-seed", nargs="*",
                        default=[REFERENCE, "bf16_cl", "w24_bf16_cl", "e12_bf16_cl"],
                        help="candidates trained on 10 seeds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rerender", action="store_true",
                        help="apply the rule to the saved results' rows; train nothing")
    args = parser.parse_args()
    if args.rerender:
        rerender()
        return
    torch.set_num_threads(args.threads)
    params = load_params()
    train, reserve, test, names = load_data(params)
    data = {"train": train, "reserve": reserve, "test": test, "names": names}
    load_before = load_average()
    start = time.perf_counter()
    rows = []
    for name in args.candidates:
        seeds = list(range(10 if name in args.ten_seed else args.seeds))
        overrides = CANDIDATES[name]
        joint, _ = train_and_score(data, params, overrides, seeds[:1], "real_augmented")
        seconds, top1 = train_and_score(data, params, overrides, seeds, "real_only")
        rows.append(_row(name, seconds, joint[0], top1))
        r = rows[-1]
        print(f"{name}: baseline {r['baseline_s']:.1f} s, joint {r['joint_s']:.1f} s, "
              f"Top-1 {r['top1']:.2f} % over {r['n']} seeds (load {load_average()})", flush=True)
    total = time.perf_counter() - start
    write_report(rows, args, load_before, load_average(), total)


def write_report(rows: list[dict[str, Any]], args: argparse.Namespace, load_before: str,
                 load_after: str, total: float) -> None:
    """Markdown table, the pick by the rule, and the SUMMARY line."""
    ref = next((r for r in rows if r["name"] == REFERENCE), None)
    lines = [
        "# Classifier cost vs accuracy (baseline arm, conf/base)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_classifier_cost.py --seeds {args.seeds}"
        f" --threads {args.threads} --candidates {' '.join(args.candidates)} --ten-seed "
        f"{' '.join(args.ten_seed)}`",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {args.threads} threads, native bf16: "
        f"{cpu_has_native_bf16()}; load average {load_before} before, {load_after} after; "
        f"{total / 60:.1f} min in all.",
        "",
        "| candidate | overrides | seeds | baseline s | joint s | speed-up (joint) | "
        "Top-1 % [95 % CI] | SD pp | Δ vs fp32 pp |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        speed = ref["joint_s"] / r["joint_s"] if ref else float("nan")
        delta = r["top1"] - ref["top1"] if ref else float("nan")
        ci = f"[{r['low']:.2f}, {r['high']:.2f}]" if r["low"] is not None else ""
        sd = f"{r['sd']:.2f}" if r["sd"] is not None else ""
        lines.append(f"| {r['name']} | `{CANDIDATES[r['name']]}` | {r['n']} | "
                     f"{r['baseline_s']:.1f} | {r['joint_s']:.1f} | {speed:.2f}× | "
                     f"{r['top1']:.2f} {ci} | {sd} | {delta:+.2f} |")
    pick = choose(rows, ref)
    lines += ["", f"Rule: among the candidates trained on 10 seeds whose baseline Top-1 is "
              f"within {TOLERANCE_PP:g} pp of `{REFERENCE}`, the cheapest (joint seconds), "
              f"counting those within {TIE_BAND - 1:.0%} of the cheapest cost as equally cheap "
              f"and taking the most accurate of them: **{pick['name'] if pick else 'none'}**.",
              ""]
    summary = "SUMMARY: " + "; ".join(
        f"{r['name']} joint {r['joint_s']:.1f} s, baseline {r['baseline_s']:.1f} s, Top-1 "
        f"{r['top1']:.2f} % (n={r['n']})" for r in rows) + \
        f"; pick {pick['name'] if pick else 'none'}"
    lines.append(summary)
    text = "\n".join(lines) + "\n"
    print(text)
    write_result("classifier_cost", text)


def choose(rows: list[dict[str, Any]], ref: dict[str, Any] | None) -> dict[str, Any] | None:
    """The rule's pick (see the module docstring), or None."""
    if ref is None:
        return None
    within = [r for r in rows if r["n"] >= 10 and r["top1"] >= ref["top1"] - TOLERANCE_PP]
    if not within:
        return None
    cheapest = min(r["joint_s"] for r in within)
    return max((r for r in within if r["joint_s"] <= TIE_BAND * cheapest),
               key=lambda r: r["top1"])


_ROW = re.compile(r"^\| (\S+) \| `[^`]*` \| (\d+) \| ([\d.]+) \| ([\d.]+) \| [\d.]+× \| "
                  r"([\d.]+) (?:\[([\d.]+), ([\d.]+)\])? \| ([\d.]*) \|")


def rerender() -> None:
    """Rewrite results/classifier_cost.md with the rule applied to its measured rows."""
    text = (RESULTS / "classifier_cost.md").read_text()
    rows = []
    for match in map(_ROW.match, text.splitlines()):
        if match:
            name, n, base, joint, top1, low, high, sd = match.groups()
            rows.append({"name": name, "n": int(n), "baseline_s": float(base),
                         "joint_s": float(joint), "top1": float(top1),
                         "low": float(low) if low else None,
                         "high": float(high) if high else None,
                         "sd": float(sd) if sd else None})
    header = text.split("\n| candidate |")[0].splitlines()
    command, machine = header[2], header[3]
    pick = choose(rows, next((r for r in rows if r["name"] == REFERENCE), None))
    old = re.search(r"^Rule: .*$", text, re.MULTILINE)
    new_rule = (f"Rule: among the candidates trained on 10 seeds whose baseline Top-1 is within "
                f"{TOLERANCE_PP:g} pp of `{REFERENCE}`, the cheapest (joint seconds), counting "
                f"those within {TIE_BAND - 1:.0%} of the cheapest cost as equally cheap and "
                f"taking the most accurate of them: **{pick['name'] if pick else 'none'}** "
                "(rule applied again to the measured rows with --rerender).")
    text = text.replace(old.group(0), new_rule) if old else text
    text = re.sub(r"; pick \S+$", f"; pick {pick['name'] if pick else 'none'}", text.rstrip())
    print(command, machine, sep="\n")
    print(new_rule)
    write_result("classifier_cost", text + "\n")


if __name__ == "__main__":
    main()
