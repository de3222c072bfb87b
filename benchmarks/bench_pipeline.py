"""End-to-end wall time of an ablation pipeline, per node and in total.

    .venv/bin/python benchmarks/bench_pipeline.py [--pipeline ablation_threshold] [--env base]
      [--rerun-drop 0.15]

With --rerun-drop, a second run with `--only-missing-outputs` changes drop_10's drop fraction
and is timed too (only that arm and the report should recompute).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from _common import NodeTimer, in_dir, scratch_project, write_result


def _run(root, env: str, pipeline: str, params=None, only_missing=False) -> tuple[float, dict]:
    timer = NodeTimer()
    with in_dir(root), KedroSession.create(project_path=root, env=env,
                                           runtime_params=params) as session:
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
    args = parser.parse_args()

    root = scratch_project(f"pipeline-{args.pipeline}-{args.env}")
    bootstrap_project(root)
    total, times = _run(root, args.env, args.pipeline)
    lines = [f"# `{args.pipeline}` on `{args.env}`", "",
             f"Machine: {platform.processor() or platform.machine()}, "
             f"{torch.get_num_threads()} torch threads, cuda={torch.cuda.is_available()}.", "",
             "| node | wall time (s) | share |", "|---|---:|---:|"]
    for name, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {seconds:.1f} | {seconds / total:.1%} |")
    lines += ["", f"**Total: {total:.1f} s ({total / 60:.1f} min)**, {len(times)} nodes.", ""]
    summary = f"{args.pipeline} ({args.env}): {total / 60:.1f} min total"
    if args.rerun_drop is not None:
        changed = {"drop_10": {"filter": {"drop_fraction": args.rerun_drop}}}
        rerun, rerun_times = _run(root, args.env, args.pipeline, params=changed,
                                  only_missing=True)
        lines += [f"Rerun with `--only-missing-outputs` and drop_10.filter.drop_fraction="
                  f"{args.rerun_drop}: **{rerun:.1f} s** ({rerun / total:.1%} of the first run); "
                  f"nodes rerun: {', '.join(sorted(rerun_times)) or 'none'}.", ""]
        summary += f"; rerun after a drop-fraction change {rerun:.0f} s ({rerun / total:.0%})"
    text = "\n".join(lines)
    print(text)
    path = write_result(f"pipeline_{args.pipeline}_{args.env}", text)
    print(f"SUMMARY: {summary} (saved to {path.relative_to(path.parents[2])})")


if __name__ == "__main__":
    main()
