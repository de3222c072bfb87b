"""The sequential runner vs `genaug.runner.DaskRunner` (a LocalCluster of 2 worker processes,
1 torch thread each) on `ablation_threshold`, for conf/test and a mid-sized configuration.

    .venv/bin/python benchmarks/bench_dask.py [--configs test,mid] [--pipeline ablation_threshold]

Per configuration, three fresh scratch projects:
* `sequential, 1 thread`: every node with 1 torch thread, as each Dask task runs (same numbers);
* `sequential, 2 threads`: the default on this 2-core machine (torch's own count);
* `dask, 2 workers x 1 thread`.
It records wall times, the ratio, the 1-minute load average before each run, whether the Dask
run's metrics equal the 1-thread sequential run's, per-task times, and projects the run to N
workers by list-scheduling the measured task times on the pipeline's DAG (the scheduler's own
order: most downstream work first). Results: benchmarks/results/dask.md and a SUMMARY: line.
"""

from __future__ import annotations

import argparse
import heapq
import os
import platform
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node

from _common import NodeTimer, in_dir, scratch_project, write_result
from genaug.pipeline_registry import run_declaration
from genaug.pipelines.ablations import create_pipelines
from genaug.pipelines.synthesis.pipeline import POOL_PARTS
from genaug.runner import DaskRunner, downstream_counts

ONE_THREAD = {"synthesis": {"num_threads": 1}, "training": {"num_threads": 1},
              "evaluation": {"evaluator": {"num_threads": 1}}}
# Between conf/test (seconds) and conf/base (13 min sequentially here): base data and models,
# shorter training, a 1× pool in 8 shards (one per pool part).
MID = {
    "synthesis": {"train": {"steps": 200, "warmup_steps": 20},
                  "pool": {"multiple_of_real": 1, "shard_size": 125}},
    "filtering": {"clip": {"closed_set": {"train": {"epochs": 8}}}},
    # One seed, as in results/dask.md (conf/base trains three since November 2026).
    "training": {"epochs": 6, "seeds": [0], "pretrain": {"epochs": 3},
                 "finetune": {"epochs": 6}},
    "evaluation": {"evaluator": {"epochs": 3}},
}
CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {"test": ("test", {}), "mid": ("base", MID)}
WORKERS = 2
PROJECTED = (1, 2, 4, 8, 16)


@dataclass
class Run:
    """One timed run: wall time, load before it, per-node seconds and where nodes ran."""

    wall: float
    load_before: float
    load_during: float  # mean 1-minute load while it ran (this run itself adds up to ~2)
    times: dict[str, float]
    where: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and \
            isinstance(out.get(key), Mapping) else value
    return out


def _wait_for_idle(limit_s: float = 1800) -> float:
    """Wait (up to `limit_s`) until the 1-minute load is <= 1.0; return the load seen."""
    deadline = time.monotonic() + limit_s
    while os.getloadavg()[0] > 1.0 and time.monotonic() < deadline:
        print(f"load {os.getloadavg()[0]:.2f} > 1.0: waiting for an idle machine", flush=True)
        time.sleep(30)
    return os.getloadavg()[0]


def _run(name: str, env: str, pipeline: str, params: dict[str, Any], threads: int,
         runner: DaskRunner | None = None) -> Run:
    """Run `pipeline` in a fresh scratch project; torch threads of this process = `threads`."""
    root = scratch_project(f"dask-{name}")
    bootstrap_project(root)
    load = _wait_for_idle()
    torch.set_num_threads(threads)
    timer = NodeTimer()
    samples: list[float] = []
    running = threading.Event()
    running.set()

    def sample() -> None:
        while running.is_set():
            samples.append(os.getloadavg()[0])
            time.sleep(5)

    sampler = threading.Thread(target=sample, daemon=True)
    with in_dir(root), KedroSession.create(project_path=root, env=env,
                                           runtime_params=params) as session:
        session._hook_manager.register(timer)
        sampler.start()
        start = time.perf_counter()
        session.run(pipeline_names=[pipeline], runner=runner)
        wall = time.perf_counter() - start
        running.clear()
        catalog = session.load_context().catalog
        arms = ("baseline", *run_declaration().threshold)
        metrics = {arm: catalog.load(f"{arm}.metrics") for arm in arms}
    during = sum(samples) / len(samples)
    if runner is None:
        return Run(wall, load, during, timer.times, metrics=metrics)
    return Run(wall, load, during, {r.node: r.seconds for r in runner.reports},
               {r.node: r.worker for r in runner.reports}, metrics)


# ---------------------------------------------------------------------- projection
def simulate(pipeline: Pipeline, seconds: Mapping[str, float], driver: set[str],
             workers: int) -> float:
    """Makespan of list-scheduling the measured task times on `workers` workers (driver nodes
    on one extra lane, like the runner): no start-up, transfer or contention costs."""
    deps = pipeline.node_dependencies
    priority = downstream_counts(pipeline)
    done: set[Node] = set()
    todo = set(pipeline.nodes)
    free = {"worker": workers, "driver": 1}
    events: list[tuple[float, str, Node]] = []
    now = 0.0
    while todo or events:
        ready = sorted((n for n in todo if deps[n] <= done), key=lambda n: (-priority[n], n.name))
        for node in ready:
            lane = "driver" if node.name in driver else "worker"
            if free[lane]:
                free[lane] -= 1
                todo.discard(node)
                heapq.heappush(events, (now + seconds.get(node.name, 0.0), node.name, node))
        if not events:
            break
        now, _, node = heapq.heappop(events)
        done.add(node)
        free["driver" if node.name in driver else "worker"] += 1
    return now


def critical_path(pipeline: Pipeline, seconds: Mapping[str, float]) -> tuple[float, list[str]]:
    """The longest chain of measured task times (no number of workers beats it)."""
    best: dict[Node, tuple[float, list[str]]] = {}
    for node in pipeline.nodes:  # topological order
        before = max((best[p] for p in pipeline.node_dependencies[node]),
                     key=lambda item: item[0], default=(0.0, []))
        best[node] = (before[0] + seconds.get(node.name, 0.0), [*before[1], node.name])
    return max(best.values(), key=lambda item: item[0])


# ---------------------------------------------------------------------- report
def _section(config: str, env: str, runs: dict[str, Run], pipeline: Pipeline) -> list[str]:
    seq1, seq2, dask = runs["seq1"], runs["seq2"], runs["dask"]
    same = dask.metrics == seq1.metrics
    lines = [f"## `{config}` ({'conf/' + env}{' + MID overrides' if config == 'mid' else ''})", "",
             "| run | wall (s) | 1-min load before / during | sequential ÷ this |",
             "|---|---:|---:|---:|"]
    for label, run in (("sequential, 1 thread", seq1), ("sequential, 2 threads", seq2),
                       (f"dask, {WORKERS} workers × 1 thread", dask)):
        lines.append(f"| {label} | {run.wall:.1f} | {run.load_before:.2f} / "
                     f"{run.load_during:.2f} | {seq1.wall / run.wall:.2f} (1 thr) / "
                     f"{seq2.wall / run.wall:.2f} (2 thr) |")
    busy = sum(dask.times.values())
    alone = sum(seq1.times.get(name, 0.0) for name in dask.times)
    lines += ["", "Dask metrics equal the 1-thread sequential run's: "
              f"**{'yes' if same else 'NO'}**. Task time summed over workers: {busy:.1f} s in "
              f"{dask.wall:.1f} s of wall time "
              f"({busy / dask.wall:.2f} tasks busy on average; 2 is the most 2 workers allow). "
              f"The same nodes took {alone:.1f} s in the 1-thread sequential run: two tasks at "
              f"once each ran {busy / alone:.2f}× as long (shared caches and memory bandwidth, "
              "the load each task does itself).", ""]
    driver = {name for name, where in dask.where.items() if where == "driver"}
    path, chain = critical_path(pipeline, dask.times)
    lines += ["| node (Dask run) | seconds | where |", "|---|---:|---|"]
    for name, secs in sorted(dask.times.items(), key=lambda kv: -kv[1])[:14]:
        lines.append(f"| {name} | {secs:.2f} | {dask.where.get(name, '')} |")
    parts = [dask.times[n] for n in dask.times if ".generate_pool_part_" in n]
    lines += ["", f"Pool parts: {len(parts)} tasks, {sum(parts):.1f} s in all, longest "
              f"{max(parts, default=0):.1f} s. Critical path {path:.1f} s: "
              f"{' → '.join(n for n in chain if dask.times.get(n, 0) >= 0.5)}.", ""]
    overhead = dask.wall - simulate(pipeline, dask.times, driver, WORKERS)
    lines += [f"Projection (list scheduling of these task times; + the {overhead:.1f} s this "
              f"run spent beyond its own {WORKERS}-worker projection: cluster start, imports, "
              "scheduling):", "", "| workers | projected wall (s) | speed-up vs 1 worker |",
              "|---:|---:|---:|"]
    one = simulate(pipeline, dask.times, driver, 1)
    for n in PROJECTED:
        projected = simulate(pipeline, dask.times, driver, n)
        lines.append(f"| {n} | {projected + overhead:.1f} | {one / projected:.2f} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", default="test,mid")
    parser.add_argument("--pipeline", default="ablation_threshold")
    args = parser.parse_args()
    pipeline = create_pipelines(run_declaration())[args.pipeline]
    lines = [f"# `{args.pipeline}`: sequential runner vs DaskRunner ({WORKERS} local workers)", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"cuda={torch.cuda.is_available()}; {POOL_PARTS} pool parts.", ""]
    summary = []
    for config in args.configs.split(","):
        env, params = CONFIGS[config]
        one = _merge(params, ONE_THREAD)
        runs = {"seq1": _run(f"{config}-seq1", env, args.pipeline, one, 1),
                "seq2": _run(f"{config}-seq2", env, args.pipeline, params, 2),
                "dask": _run(f"{config}-dask", env, args.pipeline, one, 1,
                             DaskRunner(n_workers=WORKERS, torch_threads=1))}
        lines += _section(config, env, runs, pipeline)
        same = runs["dask"].metrics == runs["seq1"].metrics
        summary.append(f"{config}: seq 1 thr {runs['seq1'].wall:.0f} s, seq 2 thr "
                       f"{runs['seq2'].wall:.0f} s, dask 2×1 {runs['dask'].wall:.0f} s "
                       f"(×{runs['seq2'].wall / runs['dask'].wall:.2f} vs 2-thread seq, "
                       f"metrics {'equal' if same else 'DIFFER'})")
    text = "\n".join(lines)
    print(text)
    path = write_result("dask", text)
    print(f"SUMMARY: {'; '.join(summary)} (saved to {path.relative_to(path.parents[2])})")


if __name__ == "__main__":
    main()
