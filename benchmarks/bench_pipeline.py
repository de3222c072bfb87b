"""End-to-end wall time of a pipeline, per node and in total.

    .venv/bin/python benchmarks/bench_pipeline.py [--pipeline ablation_threshold] [--env base]
      [--rerun-drop 0.15] [--add-seeds 5]

With --rerun-drop, a second run with `--only-missing-outputs` changes drop_10's drop fraction
and is timed too (only that arm and the report should recompute). With --add-seeds N, a run with
`--only-missing-outputs` raises `training.seeds` by N and is timed (only the new seeds train).
The first run's findings (`08_reporting/<ablation>/summary.md`) are saved as
`results/findings_<pipeline>_<env>.md`: the README's results section quotes that file. For
`__default__` the report also gives, for each ablation, the summed time of its nodes within the
run: what the sequential runner spends on them, i.e. `kedro run --pipeline <ablation>` less the
session's start-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
import yaml
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from _common import NodeTimer, in_dir, load_average, scratch_project, write_result

ABLATIONS = ("ablation_threshold", "ablation_training")


def _run(root, env: str, pipeline: str, params=None, only_missing=False) -> tuple[float, dict]:
    timer = NodeTimer()
    with in_dir(root), KedroSession.create(project_path=root, env=env,
                                           runtime_params=params) as session:
        # Private: Kedro 1.x has no public way to add a hook to one session (settings.HOOKS
        # would time every run of the project); the timer only records node wall times.
        session._hook_manager.register(timer)
        start = time.perf_counter()
        session.run(pipeline_names=[pipeline], only_missing_outputs=only_missing)
        return time.perf_counter() - start, timer.times


def main() -> None:
    """Run the pipeline in a scratch project and print per-node and total wall times."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipeline", default="ablation_threshold")
    parser.add_argument("--env", default="base")
    parser.add_argument("--rerun-drop", type=float, default=None)
    parser.add_argument("--add-seeds", type=int, default=None)
    args = parser.parse_args()

    root = scratch_project(f"pipeline-{args.pipeline}-{args.env}")
    bootstrap_project(root)
    load_before = load_average()
    total, times = _run(root, args.env, args.pipeline)
    load_after = load_average()
    save_findings(root, args.pipeline, args.env)
    lines = [f"# `{args.pipeline}` on `{args.env}`", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical "
             f"CPUs, {torch.get_num_threads()} torch threads, cuda={torch.cuda.is_available()}. "
             f"Load average {load_before} before the run, {load_after} after.", "",
             "| node | wall time (s) | share |", "|---|---:|---:|"]
    for name, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {seconds:.1f} | {seconds / total:.1%} |")
    lines += ["", f"**Total: {total:.1f} s ({total / 60:.1f} min)**, {len(times)} nodes.", ""]
    summary = f"{args.pipeline} ({args.env}): {total / 60:.1f} min total"
    if args.pipeline == "__default__":
        nodes_total = sum(times.values())
        for ablation in ABLATIONS:
            names = {node.name for node in pipelines[ablation].nodes}
            part = sum(seconds for name, seconds in times.items() if name in names)
            lines.append(f"- nodes of `{ablation}` ({len(names)}): **{part:.1f} s "
                         f"({part / 60:.1f} min)** of the {nodes_total:.1f} s spent in nodes")
            summary += f"; {ablation}'s nodes {part / 60:.1f} min"
        lines.append("")
    if args.rerun_drop is not None:
        changed = {"drop_10": {"filter": {"drop_fraction": args.rerun_drop}}}
        load_rerun = load_average()
        rerun, rerun_times = _run(root, args.env, args.pipeline, params=changed,
                                  only_missing=True)
        lines += [f"Rerun with `--only-missing-outputs` and drop_10.filter.drop_fraction="
                  f"{args.rerun_drop} (load {load_rerun} before): **{rerun:.1f} s** "
                  f"({rerun / total:.1%} of the first run); nodes rerun: "
                  f"{', '.join(sorted(rerun_times)) or 'none'}.", ""]
        summary += f"; rerun after a drop-fraction change {rerun:.0f} s ({rerun / total:.0%})"
    if args.add_seeds is not None:
        seeds = _seed_count(root, args.env) + args.add_seeds
        load_rerun = load_average()
        rerun, rerun_times = _run(root, args.env, args.pipeline,
                                  params={"training": {"seeds": seeds}}, only_missing=True)
        trained = sum(1 for name in rerun_times if "train_classifier_seeds" in name)
        lines += [f"Rerun with `--only-missing-outputs` and training.seeds={seeds} (load "
                  f"{load_rerun} before): **{rerun:.1f} s** ({rerun / total:.1%} of the first "
                  f"run); {len(rerun_times)} nodes ran, {trained} of them seed slots.", ""]
        summary += f"; adding {args.add_seeds} seeds {rerun:.0f} s ({rerun / total:.0%})"
    text = "\n".join(lines)
    print(text)
    path = write_result(f"pipeline_{args.pipeline}_{args.env}", text)
    print(f"SUMMARY: {summary}; load {load_before} -> {load_after} "
          f"(saved to {path.relative_to(path.parents[2])})")


def _seed_count(root: Path, env: str) -> int:
    """How many seeds the environment's `training.seeds` names (a count or a list)."""
    seeds = None
    for folder in ("base", env):
        path = root / "conf" / folder / "parameters_training.yml"
        if path.exists():
            block = (yaml.safe_load(path.read_text()) or {}).get("training") or {}
            seeds = block.get("seeds", seeds)
    return seeds if isinstance(seeds, int) else len(seeds)


def save_findings(root: Path, pipeline: str, env: str) -> None:
    """Keep the run's findings (each ablation's summary.md) beside the timings."""
    reports = sorted(root.glob("data/**/08_reporting/*/summary.md"))  # a scratch: one env
    if reports:
        text = "\n".join(path.read_text() for path in reports)
        write_result(f"findings_{pipeline}_{env}", text)


if __name__ == "__main__":
    main()
