"""Closed-set generator candidates: CPU cost (train, sample) against label fidelity, CAS,
memorization and FID, on the project's own data.

Usage (from the project root, on an otherwise idle machine):
    .venv/bin/python benchmarks/bench_generator.py [--threads 2]
        [--candidates ddpm_eps v_minsnr edm] [--chosen edm] [--guidance 1.0 1.5 2.0 3.0 4.0]
    .venv/bin/python benchmarks/bench_generator.py --quick     # smoke run, conf/test, < 2 min
    # exploratory (not the measurement): fewer steps, a smaller pool, data and evaluator reused
    .venv/bin/python benchmarks/bench_generator.py --train-steps 300 --pool-per-class 30 \
        --reuse-data --candidates edm --guidance 2.0

Once per run: data_processing and evaluation (real_train, real_test, the evaluator network) in a
scratch project on `--env` (conf/base by default). Then per candidate: the synthesis engine
trains the generator on real_train (`train_closed_set`, as the synthesis node does) and samples
the whole pool (`PoolSampler`, every shard), each timed in wall and process-CPU seconds; the
generator report's engine measures the pool (label fidelity by the evaluator, CAS with the
baseline arm's classifier, memorization share, FID vs real_test). The chosen candidate's
generator is then resampled at every `--guidance` scale (no retraining). A candidate is the
environment's `synthesis` block with the overrides in CANDIDATES; `ddpm_eps` has none (today's
default). Results: benchmarks/results/generator.md (`--quick`: generator_quick.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from _common import in_dir, scratch_project, write_result
from genaug.models import generator_report as R
from genaug.models.diffusion_sampling import PoolSampler, pool_per_class
from genaug.models.diffusion_training import train_closed_set
from genaug.schemas.base import deep_merge, parse
from genaug.schemas.synthesis import SynthesisParams

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work"
CPU = torch.device("cpu")
# Overrides of the environment's `synthesis` block; the first is today's default.
CANDIDATES: dict[str, dict[str, Any]] = {
    "ddpm_eps": {},
    "v_minsnr": {"train": {"prediction": "v_prediction", "snr_gamma": 5.0}},
    "edm": {"train": {"prediction": "edm"}, "sampling": {"scheduler": "edm_dpmsolver++"}},
    "edm_euler": {"train": {"prediction": "edm"},
                  "sampling": {"scheduler": "edm_euler", "steps": 30}},
    "edm_wide": {"train": {"prediction": "edm"}, "sampling": {"scheduler": "edm_dpmsolver++"},
                 "model": {"block_out_channels": [32, 64, 64]}},
}
# --quick: a few optimiser and sampling steps on conf/test, only to prove the script runs.
QUICK = {"train": {"steps": 30, "log_every": 30}, "sampling": {"steps": 4}}


def load_average() -> str:
    """1-minute load average (other processes compete for the same cores)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"


def timed(func: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, process CPU seconds) of calling func."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def shared_inputs(env: str, threads: int, reuse: bool) -> dict[str, Any]:
    """real_train, real_test, class names, the evaluator and the typed parameters of `env`.

    `reuse`: keep the scratch project of an earlier run and make only what it lacks.
    """
    root = WORK / f"generator-{env}"
    if not (reuse and root.is_dir()):
        root = scratch_project(root.name)
    bootstrap_project(root)
    with in_dir(root), KedroSession.create(project_path=root, env=env) as session:
        session.run(pipeline_names=["data_processing", "evaluation"],
                    only_missing_outputs=reuse)
    with in_dir(root), KedroSession.create(project_path=root, env=env) as session:
        catalog = session.load_context().catalog
        inputs = {name: catalog.load(name) for name in ("real_train", "real_test",
                                                          "class_names", "evaluator")}
        for name in ("synthesis", "evaluation", "baseline.training", "generator_report",
                     "seed"):
            inputs[name] = catalog.load(f"params:{name}")
    torch.set_num_threads(threads)
    return inputs


def candidate_params(base: SynthesisParams, overrides: dict[str, Any],
                     args: argparse.Namespace) -> SynthesisParams:
    """The synthesis block of a candidate (validated like the project's), resized by args."""
    block = deep_merge(base.to_dict(), overrides)
    if args.quick:
        block = deep_merge(block, QUICK)
    if args.train_steps is not None:
        block["train"]["steps"] = args.train_steps
    if args.pool_per_class is not None:
        block["pool"] = {**block["pool"], "per_class": args.pool_per_class,
                         "multiple_of_real": None}
    block["num_threads"] = args.threads
    return parse(SynthesisParams, block, "synthesis")


def sample_pool(generator: dict[str, torch.Tensor], params: SynthesisParams,
                inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The whole pool, every shard in order, as the synthesis node would make it."""
    real, names = inputs["real_train"], inputs["class_names"]
    per_class = pool_per_class(params.pool, real["labels"].numel(), len(names))
    sampler = PoolSampler(generator, params, inputs["seed"], names,
                          tuple(real["images"].shape[1:]), per_class, CPU)
    shards = [sampler.shard(i) for i in range(sampler.num_shards)]
    return {key: torch.cat([s[key] for s in shards]) for key in ("images", "labels")}


def measure(pool: dict[str, torch.Tensor], inputs: dict[str, Any]) -> dict[str, Any]:
    """Label fidelity, CAS (+ its seconds), memorization and FID of a pool."""
    names, evaluation = inputs["class_names"], inputs["evaluation"]
    k, test, train = len(names), inputs["real_test"], inputs["real_train"]
    predictions = R.evaluator_predictions(inputs["evaluator"], evaluation, pool["images"], k, CPU)
    fidelity = R.label_fidelity(predictions, pool["labels"], names)
    pool_nn, _ = R.nearest_real(pool["images"], train["images"], 1024)
    test_nn, _ = R.nearest_real(test["images"], train["images"], 1024)
    memo = R.memorization(pool_nn, test_nn, inputs["generator_report"].memorization_quantile)
    cas = R.classification_accuracy_score(pool, test, inputs["baseline.training"], k,
                                          inputs["seed"], CPU, evaluation.batch_size)
    fid = R.fid_and_is(pool["images"], test["images"], inputs["evaluator"], evaluation, k,
                       inputs["seed"], CPU)
    worst = sorted((v, n) for n, v in fidelity["per_class"].items() if v is not None)[:3]
    return {"fidelity": fidelity["overall"], "worst": ", ".join(f"{n} {v:.2f}" for v, n in worst),
            "cas": cas["top1_mean"], "cas_s": cas["seconds"], "memorized": memo["share"],
            "nn_median": memo["pool_nn_median"], "test_nn_median": memo["real_test_nn_median"],
            "fid": fid["fid"], "extractor": fid["feature_extractor"], "n": fidelity["n"]}


def row(name: str, guidance: float, train: tuple[float, float], sample: tuple[float, float],
        m: dict[str, Any]) -> str:
    """One Markdown table row."""
    fid = "n/a" if m["fid"] is None else f"{m['fid']:.2f}"
    return (f"| {name} | {guidance:g} | {train[0]:.0f} ({train[1]:.0f}) | {sample[0]:.0f} "
            f"({sample[1]:.0f}) | {train[0] + sample[0]:.0f} | {m['fidelity']:.3f} | "
            f"{m['cas']:.3f} | {m['cas_s']:.0f} | {100 * m['memorized']:.2f} % | "
            f"{m['nn_median']:.2f} | {fid} | {m['worst']} |")


def main() -> None:
    """Train, sample and measure every candidate; sweep the chosen one's guidance scale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=["ddpm_eps", "v_minsnr", "edm"],
                        choices=list(CANDIDATES))
    parser.add_argument("--chosen", default=None, help="candidate whose guidance is swept "
                        "(default: the last of --candidates)")
    parser.add_argument("--guidance", nargs="+", type=float, default=[1.0, 1.5, 2.0, 3.0, 4.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--env", default="base")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: conf/test, a few steps, two guidance scales")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="override synthesis.train.steps (exploration only)")
    parser.add_argument("--pool-per-class", type=int, default=None,
                        help="override synthesis.pool.per_class (exploration only)")
    parser.add_argument("--reuse-data", action="store_true",
                        help="reuse the scratch project's data and evaluator of an earlier run")
    args = parser.parse_args()
    if args.quick:
        args.env, args.guidance = "test", args.guidance[:2]
    chosen = args.chosen or args.candidates[-1]
    if chosen not in args.candidates:
        raise SystemExit(f"--chosen {chosen} is not one of --candidates {args.candidates}")
    start, load_before = time.perf_counter(), load_average()
    inputs = shared_inputs(args.env, args.threads, args.reuse_data)
    real = inputs["real_train"]
    print(f"{args.env}: {real['labels'].numel()} real_train, "
          f"{inputs['real_test']['labels'].numel()} real_test images; {args.threads} threads; "
          f"load average {load_before}")
    rows, results, generators = [], {}, {}
    for name in args.candidates:
        params = candidate_params(inputs["synthesis"], CANDIDATES[name], args)
        generator, *train = timed(lambda p=params: train_closed_set(
            real["images"], real["labels"], inputs["class_names"], p, inputs["seed"], CPU))
        pool, *sample = timed(lambda g=generator, p=params: sample_pool(g, p, inputs))
        m = measure(pool, inputs)
        generators[name] = (generator, params)
        results[name] = (params.sampling.guidance_scale, train, sample, m)
        rows.append(row(name, params.sampling.guidance_scale, train, sample, m))
        print(rows[-1], flush=True)
    generator, params = generators[chosen]
    sweep = []
    for scale in args.guidance:
        if scale == params.sampling.guidance_scale:
            continue  # measured above
        swept = parse(SynthesisParams, deep_merge(params.to_dict(),
                                                  {"sampling": {"guidance_scale": scale}}),
                      "synthesis")
        pool, *sample = timed(lambda s=swept: sample_pool(generator, s, inputs))
        sweep.append(row(f"{chosen} (sweep)", scale, results[chosen][1], sample,
                         measure(pool, inputs)))
        print(sweep[-1], flush=True)
    default = args.candidates[0] if not CANDIDATES[args.candidates[0]] else None
    load_after = load_average()
    wall = time.perf_counter() - start
    header = ("| candidate | guidance | train s wall (CPU) | sample s wall (CPU) | train+sample s "
              "| label fidelity | CAS | CAS s | memorized | pool NN median | FID | worst classes "
              "(fidelity) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    any_m = next(iter(results.values()))[3]
    lines = [
        "# Closed-set generator candidates: cost vs quality", "",
        f"Command: `.venv/bin/python benchmarks/bench_generator.py {' '.join(sys.argv[1:])}`",
        "",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"{args.threads} torch threads, torch {torch.__version__}, CPU. Load average "
        f"{load_before} -> {load_after}. Benchmark wall time {wall:.0f} s.", "",
        f"Data: conf/{args.env} ({real['labels'].numel()} real_train images, "
        f"{any_m['n']} pool images, real_test {inputs['real_test']['labels'].numel()}). "
        f"Label fidelity: the evaluator network's argmax equals the pool label. CAS: the "
        f"baseline arm's classifier trained on the pool alone, top-1 on real_test (CAS s = its "
        f"training time, part of the generator report's cost, not of the generator's). "
        f"Memorized: share of pool images closer (pixel L2) to a real_train image than "
        f"{100 * (1 - inputs['generator_report'].memorization_quantile):g} % of real_test "
        f"images are (real_test NN median {any_m['test_nn_median']:.2f}). FID vs real_test with "
        f"{any_m['extractor']} features. Train/sample s: wall seconds (process CPU seconds). "
        f"Sweep rows resample the chosen candidate's generator (its train s repeated).",
        "", "Candidates (overrides of the environment's `synthesis` block):", "",
        *[f"- `{n}`: {CANDIDATES[n] or 'none (the current default)'}" for n in args.candidates], "",
        header, *rows, *sweep, "",
        "Targets (conf/base, 2 idle cores): fidelity >= 0.90, CAS >= 0.83, memorized <= 1 %, "
        "train + sample <= 460 s.", ""]
    if args.train_steps is not None or args.pool_per_class is not None:
        lines.insert(2, f"**Exploratory sizes (train steps {args.train_steps}, pool per class "
                        f"{args.pool_per_class}; null = the environment's): not the "
                        f"measurement the targets refer to.**\n")
    if args.quick:
        lines.insert(2, "**Smoke run (--quick): conf/test sizes and a few steps; these numbers "
                        "say only that the script runs.**\n")
    resized = args.quick or args.train_steps is not None or args.pool_per_class is not None
    path = write_result("generator_quick" if resized else "generator", "\n".join(lines))
    summary = []
    if default is not None:
        _, train, sample, m = results[default]
        summary.append(f"default {default}: fidelity {m['fidelity']:.3f}, CAS {m['cas']:.3f}, "
                       f"train {train[0]:.0f} s + sample {sample[0]:.0f} s")
    _, train, sample, m = results[chosen]
    summary.append(f"{chosen}: fidelity {m['fidelity']:.3f}, CAS {m['cas']:.3f}, "
                   f"train {train[0]:.0f} s + sample {sample[0]:.0f} s")
    print(f"SUMMARY: {'; '.join(summary)} ({args.threads} threads, load {load_before} -> "
          f"{load_after}) (saved to {path.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
