"""What a what-if costs: reruns with `--only-missing-outputs` after three kinds of change.

    .venv/bin/python benchmarks/bench_reruns.py [--env base] [--guidance 3.0]

In a scratch project (with its own copy of src/, so the code edit never touches the repo):
a full `ablation_threshold` run, then reruns with `--only-missing-outputs` after
1. changing `synthesis.sampling.guidance_scale` (expect: pool, scores, arms, report; no
   generator training),
2. also changing `filtering.report_max_per_class` (expect: the CLIP report only),
3. also editing the classifier engine's code (expect: every classifier and what follows).
Each is a `kedro run` process; its wall time includes the process start (a few seconds).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, scratch_project, write_result

KEDRO = str(Path(sys.executable).parent / "kedro")
ENGINE = Path("src") / "genaug" / "models" / "classifier_training.py"


def _run(root: Path, env: str, extra: list[str]) -> tuple[float, list[str], str]:
    """One `kedro run` of ablation_threshold: wall seconds, completed nodes, load average."""
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.perf_counter()
    result = subprocess.run(
        [KEDRO, "run", "--pipeline", "ablation_threshold", "--env", env, *extra],
        cwd=root, capture_output=True, text=True, check=False,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"})
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(result.stdout[-4000:] + result.stderr[-4000:])
    output = result.stdout + result.stderr
    nodes = sorted(set(re.findall(r"Completed node: (\S+)", output)))
    return seconds, nodes, load


def main() -> None:
    """Run the full pipeline and the three reruns; print and save a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", default="base")
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--report-max-per-class", type=int, default=400)
    args = parser.parse_args()

    root = scratch_project(f"reruns-{args.env}")
    shutil.copytree(REPO / "src" / "genaug", root / "src" / "genaug",
                    ignore=shutil.ignore_patterns("__pycache__"))
    guidance = f"synthesis.sampling.guidance_scale={args.guidance}"
    report = f"filtering.report_max_per_class={args.report_max_per_class}"
    steps = [("full run", [], None),
             ("guidance_scale changed", ["--only-missing-outputs", "--params", guidance], None),
             ("report_max_per_class changed", ["--only-missing-outputs", "--params",
                                               f"{guidance},{report}"], None),
             ("classifier engine edited", ["--only-missing-outputs", "--params",
                                           f"{guidance},{report}"], ENGINE)]
    rows = []
    full = None
    for name, extra, edit in steps:
        if edit is not None:  # a real code change, not whitespace: a new module constant
            with open(root / edit, "a") as handle:
                handle.write("\nBENCHMARK_EDIT = 1  # added by bench_reruns.py\n")
        seconds, nodes, load = _run(root, args.env, extra)
        full = full or seconds
        rows.append((name, seconds, nodes, load))
        print(f"{name}: {seconds:.1f} s, {len(nodes)} nodes, load {load}", flush=True)

    lines = [f"# Reruns with `--only-missing-outputs` (`ablation_threshold`, `{args.env}`)", "",
             "`python benchmarks/bench_reruns.py --env " + args.env + "`; each row is one "
             "`kedro run` process (wall time includes its start). Load average (1/5/15 min) "
             "taken just before each run.", "",
             "| change | wall time (s) | of full run | nodes run | load before |",
             "|---|---:|---:|---:|---|"]
    for name, seconds, nodes, load in rows:
        lines.append(f"| {name} | {seconds:.1f} | {seconds / full:.0%} | {len(nodes)} | {load} |")
    lines.append("")
    for name, _, nodes, _ in rows[1:]:
        lines += [f"**{name}** ran: " + (", ".join(f"`{n}`" for n in nodes) or "nothing"), ""]
    text = "\n".join(lines)
    path = write_result(f"reruns_{args.env}" if args.env != "base" else "reruns", text)
    print(text)
    summary = "; ".join(f"{name} {seconds:.0f} s ({len(nodes)} nodes)"
                        for name, seconds, nodes, _ in rows)
    print(f"SUMMARY: {summary} (saved to {path.relative_to(REPO)})")


if __name__ == "__main__":
    main()
