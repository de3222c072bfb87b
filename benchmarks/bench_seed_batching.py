"""Training several seeds at once on the CPU: one model after another vs stacked with torch.func.

Usage (from the project root, on an otherwise idle machine):
    .venv/bin/python benchmarks/bench_seed_batching.py [--seeds 3] [--threads 2] [--steps 30]

Per optimisation step of the conf/base classifier (fast_cnn [32, 64, 128], 2 convs per stage,
batch 64 of 1×28×28 images, AdamW, cross-entropy), three ways to train S seeds:
- `loop`: S models, each its own forward, backward and AdamW step (what the engine does);
- `vmap`: the S models stacked (`torch.func.stack_module_state`) and run as one batched call
  (`vmap(functional_call)`, per-seed batches and batch-norm statistics), one AdamW over the
  stacked parameters: the issue's proposed speed-up;
- `loop bf16`: `loop` under `torch.autocast("cpu", torch.bfloat16)` (for scale only: it changes
  the numbers, so it is not a drop-in speed-up).
Timed in ABC order over `--repeats` rounds after a warm-up; the medians are reported.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from _common import write_result
from genaug.models.classifiers import FastCNN

BATCH, CLASSES, SHAPE = 64, 10, (1, 28, 28)


def loop_step(seeds: int, bf16: bool) -> Callable[[], None]:
    """One step of `seeds` independent models, one after another."""
    models = [FastCNN(SHAPE[0], CLASSES, (32, 64, 128), 0.2, 2) for _ in range(seeds)]
    optims = [torch.optim.AdamW(m.parameters(), 2e-3, weight_decay=5e-4) for m in models]
    x, y = torch.randn(seeds, BATCH, *SHAPE), torch.randint(0, CLASSES, (seeds, BATCH))

    def step() -> None:
        for i, (model, optim) in enumerate(zip(models, optims, strict=True)):
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(x[i]), y[i], label_smoothing=0.1)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
    return step


def vmap_step(seeds: int) -> Callable[[], None]:
    """One step of `seeds` stacked models in one batched call."""
    models = [FastCNN(SHAPE[0], CLASSES, (32, 64, 128), 0.2, 2) for _ in range(seeds)]
    params, buffers = stack_module_state(models)
    skeleton = copy.deepcopy(models[0]).to("meta")
    optim = torch.optim.AdamW(list(params.values()), 2e-3, weight_decay=5e-4)
    x, y = torch.randn(seeds, BATCH, *SHAPE), torch.randint(0, CLASSES, (seeds, BATCH))

    def forward(p: dict, b: dict, images: torch.Tensor) -> torch.Tensor:
        return functional_call(skeleton, (p, b), (images,))

    batched = vmap(forward, randomness="different")

    def step() -> None:
        logits = batched(params, buffers, x)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), label_smoothing=0.1,
                               reduction="sum") / BATCH  # sum of the per-seed mean losses
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
    return step


def main() -> None:
    """Time the three ways and print per-step figures and a SUMMARY line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = os.getloadavg()[0]
    ways = {"loop": loop_step(args.seeds, False), "vmap": vmap_step(args.seeds),
            "loop bf16": loop_step(args.seeds, True)}
    for step in ways.values():
        for _ in range(5):
            step()
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.repeats):
        for name, step in ways.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append((time.perf_counter() - start) / args.steps)
    load_after = os.getloadavg()[0]
    loop = statistics.median(times["loop"])
    lines = ["# Training several seeds at once (CPU)", "",
             f"Command: `.venv/bin/python benchmarks/bench_seed_batching.py --seeds {args.seeds} "
             f"--threads {args.threads} --steps {args.steps} --repeats {args.repeats}`", "",
             f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical "
             f"CPUs, {args.threads} torch threads, torch {torch.__version__}. Load average "
             f"{load_before:.2f} -> {load_after:.2f}.", "",
             f"One optimisation step of {args.seeds} seeds (fast_cnn [32, 64, 128], batch "
             f"{BATCH}, AdamW); median over {args.repeats} rounds of {args.steps} steps.", "",
             "| way | ms per step (all seeds) | min–max | speed-up vs loop |",
             "|---|---:|---:|---:|"]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {1000 * median:.1f} | {1000 * min(values):.1f}–"
                     f"{1000 * max(values):.1f} | {loop / median:.2f}× |")
    text = "\n".join(lines) + "\n"
    print(text)
    path = write_result("seed_batching", text)
    vm, bf = statistics.median(times["vmap"]), statistics.median(times["loop bf16"])
    print(f"SUMMARY: {args.seeds} seeds per step: loop {1000 * loop:.0f} ms, vmap "
          f"{1000 * vm:.0f} ms ({loop / vm:.2f}×), bf16 loop {1000 * bf:.0f} ms "
          f"({loop / bf:.2f}×); {args.threads} threads, load {load_before:.2f} -> "
          f"{load_after:.2f} (saved to {path.relative_to(path.parents[2])})")


if __name__ == "__main__":
    main()
