"""Pool-size scaling: sampling and filtering time and peak memory at 1x, 2x, 4x the conf/base pool.

Usage (from the project root):
    .venv/bin/python benchmarks/bench_scaling.py [--scales 1 2 4] [--base-per-class 300]
        [--steps 3] [--threads 2]

For each scale two fresh subprocesses run (so each peak RSS belongs to one scale and one stage):
* sampling: the synthesis node `generate_synthetic_pool` with a randomly initialised UNet of the
  conf/base shape and the conf/base scheduler, guidance, batch and shard size, its shards saved
  through `ShardedBundleDataset` into a temporary folder (what Kedro does with the node's
  `LazyShards` output: one save that makes and writes the shards one by one). Throughput does
  not depend on the weights. `--steps` (the same at every scale) replaces conf/base's sampling
  steps to keep the run short: the time per image is roughly proportional to the steps.
* filtering: `ShardedBundleDataset.load` of that pool (as the catalog hands it to the node),
  `score_pool` with a randomly initialised closed-set CLIP of the conf/base shape, then
  `filter_pool` with conf/base `filter`.
Peak RSS is the child's high-water mark (VmHWM, i.e. ru_maxrss of this process image) at the
end of its stage;
"ready" is the same measure after imports and model building, before the stage's work.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from _common import typed, write_result

ROOT = Path(__file__).resolve().parents[1]
LINEAR_TOL = 0.20   # time per image within ±20 % of the smallest scale's
FLAT_TOL = 0.10     # peak RSS within +10 % of the smallest scale's


def conf(*names: str) -> dict[str, Any]:
    """conf/base parameter files, merged."""
    out: dict[str, Any] = {}
    for name in names:
        out.update(yaml.safe_load((ROOT / "conf/base" / name).read_text()))
    return out


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB.

    Linux: VmHWM of /proc/self/status (the high-water mark of this process image only;
    ru_maxrss can also carry the parent's peak across fork/vfork + exec). Elsewhere:
    ru_maxrss (KiB on Linux, bytes on macOS).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def machine() -> str:
    """CPU model (from /proc/cpuinfo when available) and core count."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical CPUs"


# --------------------------------------------------------------------------- children

def child_sample(args: argparse.Namespace) -> dict[str, Any]:
    """Generate the pool through the synthesis node into ShardedBundleDataset shards."""
    from kedro.io.core import Version

    from genaug.datasets.sharded_bundle import ShardedBundleDataset
    from genaug.models import diffusion as D
    from genaug.pipelines.synthesis import nodes as N
    from genaug.schemas.synthesis import SynthesisParams

    params = conf("parameters.yml", "parameters_data_processing.yml",
                  "parameters_synthesis.yml")
    names = params["data_processing"]["class_names"]
    k = len(names)
    syn = params["synthesis"]
    syn["pool"] = {"per_class": args.base_per_class * args.scale, "multiple_of_real": None,
                   "shard_size": syn["pool"]["shard_size"] if args.shard_size is None
                   else args.shard_size}
    if args.steps is not None:
        syn["sampling"]["steps"] = args.steps
    cfg = typed(SynthesisParams, params, "synthesis")
    m = cfg.model
    torch.manual_seed(0)
    unet = D.build_unet(k, 1, 28, m.block_out_channels, m.layers_per_block,
                        m.norm_num_groups, m.attention)
    sched = D.build_train_scheduler(cfg.train.num_train_timesteps, cfg.train.beta_schedule)
    meta = {"kind": "closed_set", "unet_config": dict(unet.config),
            "scheduler_config": dict(sched.config), "num_classes": k, "class_names": names,
            "image_shape": [1, 28, 28], "sample_size": 28, "pads": [0, 0, 0, 0],
            "null_class": k}
    generator = D.pack_generator(unet, meta)
    del unet
    real = {"images": torch.zeros(k, 1, 28, 28, dtype=torch.uint8), "labels": torch.arange(k)}
    dataset = ShardedBundleDataset(filepath=str(Path(args.workdir) / "synthetic_pool"),
                                   version=Version(None, None))
    ready = peak_rss_mib()
    start = time.perf_counter()
    # Validation stays timed: the node did it itself before the parameter hook took it over.
    pool = N.generate_synthetic_pool(generator, real, names,
                                     typed(SynthesisParams, params, "synthesis"),
                                     params["seed"], "cpu")
    dataset.save(pool)  # as Kedro saves the node's output: one save, shard by shard
    shards = pool.num_shards
    seconds = time.perf_counter() - start
    manifest = ShardedBundleDataset(filepath=str(Path(args.workdir) / "synthetic_pool"),
                                    version=Version(None, None)).manifest()
    s = cfg.sampling
    return {"images": manifest["num_images"], "shards": shards, "seconds": seconds,
            "ready_rss": ready, "peak_rss": peak_rss_mib(), "threads": torch.get_num_threads(),
            "sampling": f"{s.scheduler} {s.steps} steps, guidance {s.guidance_scale}, "
                        f"batch {s.batch_size}, shard {cfg.pool.shard_size}, "
                        f"UNet {m.block_out_channels}",
            "steps": s.steps,
            "conf_steps": conf("parameters_synthesis.yml")["synthesis"]["sampling"]["steps"]}


def child_filter(args: argparse.Namespace) -> dict[str, Any]:
    """Load the pool as the catalog does, score it with a random CLIP and filter it."""
    from kedro.io.core import Version

    from genaug.datasets.sharded_bundle import ShardedBundleDataset
    from genaug.models.clip import build_clip, state_dict_for_saving
    from genaug.pipelines.filtering.nodes import filter_pool, score_pool
    from genaug.schemas.filtering import FilteringParams, FilterParams

    params = conf("parameters_data_processing.yml", "parameters_filtering.yml")
    names = params["data_processing"]["class_names"]
    torch.manual_seed(0)
    clip_model = state_dict_for_saving(
        build_clip(typed(FilteringParams, params, "filtering").clip, (1, 28, 28)))
    dataset = ShardedBundleDataset(filepath=str(Path(args.workdir) / "synthetic_pool"),
                                   version=Version(None, None))
    ready = peak_rss_mib()
    t0 = time.perf_counter()
    pool = dataset.load()
    t1 = time.perf_counter()
    scores = score_pool(clip_model, pool, names, typed(FilteringParams, params, "filtering"),
                        "cpu")
    t2 = time.perf_counter()
    kept, summary = filter_pool(pool, scores, names, typed(FilterParams, params, "filter"))
    t3 = time.perf_counter()
    assert kept["labels"].numel() == summary["kept"]
    return {"images": int(pool["labels"].numel()), "kept": summary["kept"],
            "load_s": t1 - t0, "score_s": t2 - t1, "filter_s": t3 - t2, "seconds": t3 - t0,
            "pool_mib": pool["images"].numel() * pool["images"].element_size() / 2**20,
            "ready_rss": ready, "peak_rss": peak_rss_mib(), "threads": torch.get_num_threads()}


def spawn(stage: str, scale: int, workdir: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one stage at one scale in a fresh interpreter; return its RESULT JSON."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", stage, "--scale",
           str(scale), "--workdir", workdir, "--base-per-class", str(args.base_per_class),
           "--threads", str(args.threads)]
    if args.steps is not None:
        cmd += ["--steps", str(args.steps)]
    if args.shard_size is not None:
        cmd += ["--shard-size", str(args.shard_size)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{stage} at scale {scale} failed (exit {proc.returncode})")
    return json.loads(lines[-1][len("RESULT "):])


# --------------------------------------------------------------------------- parent

def main() -> None:
    """Run every scale, print the table and the linearity / flat-memory checks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--base-per-class", type=int, default=None,
                        help="pool images per class at 1x (default: conf/base, "
                             "multiple_of_real x train_per_class = 300)")
    parser.add_argument("--steps", type=int, default=3,
                        help="sampling steps at every scale (conf/base: 15); 0 = conf/base")
    parser.add_argument("--shard-size", type=int, default=None, help="default: conf/base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=["sample", "filter"], help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps == 0:
        args.steps = None
    torch.set_num_threads(args.threads)
    if args.child:
        result = child_sample(args) if args.child == "sample" else child_filter(args)
        print("RESULT " + json.dumps(result))
        return
    if args.base_per_class is None:
        p = conf("parameters_data_processing.yml", "parameters_synthesis.yml")
        pool = p["synthesis"]["pool"]
        args.base_per_class = pool["per_class"] or math.ceil(
            pool["multiple_of_real"] * p["data_processing"]["train_per_class"])

    header = (f"machine: {machine()}; {torch.get_num_threads()} torch threads per child "
              f"(--threads {args.threads}), torch {torch.__version__}, CPU; 1-min load "
              f"average at start {os.getloadavg()[0]:.1f}")
    print(header)
    rows = []
    start = time.perf_counter()
    for scale in sorted(args.scales):
        with tempfile.TemporaryDirectory(prefix="genaug-scaling-") as workdir:
            sample = spawn("sample", scale, workdir, args)
            filt = spawn("filter", scale, workdir, args)
        rows.append({"scale": scale, "sample": sample, "filter": filt})
        print(f"  {scale}x: {sample['images']} images in {sample['shards']} shards; sampling "
              f"{sample['seconds']:.1f} s ({sample['images'] / sample['seconds']:.1f} images/s, "
              f"peak RSS {sample['peak_rss']:.0f} MiB, ready {sample['ready_rss']:.0f}); "
              f"filtering {filt['seconds']:.1f} s (load {filt['load_s']:.2f} + score "
              f"{filt['score_s']:.1f} + filter {filt['filter_s']:.2f}; peak RSS "
              f"{filt['peak_rss']:.0f} MiB, ready {filt['ready_rss']:.0f})", flush=True)
    elapsed = time.perf_counter() - start
    first = rows[0]
    base_spi = first["sample"]["seconds"] / first["sample"]["images"]
    base_fpi = first["filter"]["seconds"] / first["filter"]["images"]
    steps_note = rows[0]["sample"]["sampling"]
    steps = rows[0]["sample"]["steps"]
    conf_steps = rows[0]["sample"]["conf_steps"]

    table = ["| scale | images | shards | sampling s | sampling images/s | s/image vs 1st | "
             "filtering s (load+score+filter) | filtering images/s | s/image vs 1st | "
             "peak RSS sampling MiB | peak RSS filtering MiB | peak RSS MiB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, f = r["sample"], r["filter"]
        spi, fpi = s["seconds"] / s["images"], f["seconds"] / f["images"]
        table.append(
            f"| {r['scale']}x | {s['images']} | {s['shards']} | {s['seconds']:.1f} | "
            f"{s['images'] / s['seconds']:.1f} | {spi / base_spi:.2f} | {f['seconds']:.1f} | "
            f"{f['images'] / f['seconds']:.0f} | {fpi / base_fpi:.2f} | {s['peak_rss']:.0f} | "
            f"{f['peak_rss']:.0f} | {max(s['peak_rss'], f['peak_rss']):.0f} |")

    checks = []
    s_lin = all(abs(r["sample"]["seconds"] / r["sample"]["images"] / base_spi - 1) <= LINEAR_TOL
                for r in rows)
    f_lin = all(abs(r["filter"]["seconds"] / r["filter"]["images"] / base_fpi - 1) <= LINEAR_TOL
                for r in rows)
    checks.append(f"Sampling time linear in pool size (s/image within ±{LINEAR_TOL:.0%} of "
                  f"the {first['scale']}x run): {'yes' if s_lin else 'NO'}.")
    checks.append(f"Filtering time linear in pool size (same test): {'yes' if f_lin else 'NO'}"
                  " (its fixed costs, CLIP rebuild and caption encoding, weigh most on the "
                  "smallest pool).")
    last = rows[-1]
    n0, n1 = first["sample"]["images"], last["sample"]["images"]
    s_growth = last["sample"]["peak_rss"] - first["sample"]["peak_rss"]
    f_growth = last["filter"]["peak_rss"] - first["filter"]["peak_rss"]
    s_flat = s_growth <= FLAT_TOL * first["sample"]["peak_rss"]
    f_flat = f_growth <= FLAT_TOL * first["filter"]["peak_rss"]
    checks.append(
        f"Sampling peak RSS flat ({n0} -> {n1} images: {first['sample']['peak_rss']:.0f} -> "
        f"{last['sample']['peak_rss']:.0f} MiB, {s_growth:+.0f} MiB; flat = within "
        f"+{FLAT_TOL:.0%}): {'yes' if s_flat else 'NO'}. The node returns LazyShards (one maker "
        "per shard) and ShardedBundleDataset writes each shard to disk before the next is made, "
        "so at most two shards (the one being made and the last one written) plus a sampling "
        "batch are in memory, never the whole pool.")
    slope = f_growth / max(1, n1 - n0) * 1000
    checks.append(
        f"Filtering peak RSS flat ({first['filter']['peak_rss']:.0f} -> "
        f"{last['filter']['peak_rss']:.0f} MiB, {f_growth:+.0f} MiB, "
        f"{slope:.2f} MiB per 1000 images): {'yes' if f_flat else 'NO'}. Filtering is not "
        "sharded: the catalog's ShardedBundleDataset.load() concatenates every shard, and "
        "score_pool / filter_pool take the whole pool as one bundle, so its memory grows "
        f"O(N): at {n1} images the uint8 pool is {last['filter']['pool_mib']:.1f} MiB, the "
        "kept subset a second copy (~0.8x), and the pixel-sum fingerprint "
        "(`pixel_sums`, in score_pool and again in filter_pool's alignment check) casts the "
        f"whole pool to int64 first: ~{8 * last['filter']['pool_mib']:.0f} MiB transient, "
        "the largest term; all small next to the interpreter + torch baseline"
        + ("" if f_flat else "; here the growth is larger than the flat threshold") + ".")
    steps_text = (f"sampling {steps_note} (conf/base: {conf_steps} steps; the per-image time "
                  f"scales about x{conf_steps / steps:.1f} at conf/base)")
    print("\n".join(table))
    print("\n".join(checks))
    load_end = os.getloadavg()[0]
    if load_end > 1.25 * args.threads:
        checks.append(f"Load average {load_end:.1f} at the end on {os.cpu_count()} CPUs: other "
                      "processes shared the cores, so the times (and the linearity verdicts) "
                      "are noisy; rerun on an idle machine.")
        print(checks[-1])
    print(f"{steps_text}; benchmark wall time {elapsed:.0f} s")
    cmd = (f".venv/bin/python benchmarks/bench_scaling.py --scales "
           f"{' '.join(map(str, args.scales))} --base-per-class {args.base_per_class} "
           f"--steps {args.steps or 0} --threads {args.threads}")
    text = "\n".join([
        "# Pool-size scaling: sampling and filtering", "", f"Command: `{cmd}`", "",
        header + ".", "",
        f"1x = {args.base_per_class} images per class x 10 classes (conf/base pool). "
        f"Random-weight UNet and CLIP of the conf/base shapes; {steps_text}. Each stage and "
        "scale runs in its own fresh subprocess; peak RSS = the child's VmHWM (ru_maxrss) at the "
        "end of the stage "
        "(interpreter, torch and models included: "
        f"{first['sample']['ready_rss']:.0f} MiB before sampling, "
        f"{first['filter']['ready_rss']:.0f} MiB before filtering).", "",
        *table, "", *[f"- {c}" for c in checks], "",
        f"Benchmark wall time {elapsed:.0f} s.", ""])
    path = write_result("scaling", text)
    rates = ", ".join(f"{r['scale']}x {r['sample']['images'] / r['sample']['seconds']:.1f}"
                      for r in rows)
    print(f"SUMMARY: scaling {n0}->{n1} images ({steps} sampling steps): "
          f"sampling images/s {rates} (linear: {'yes' if s_lin else 'NO'}); filtering linear: "
          f"{'yes' if f_lin else 'NO'}; peak RSS sampling {first['sample']['peak_rss']:.0f}->"
          f"{last['sample']['peak_rss']:.0f} MiB (flat: {'yes' if s_flat else 'NO'}), "
          f"filtering {first['filter']['peak_rss']:.0f}->{last['filter']['peak_rss']:.0f} MiB "
          f"(flat: {'yes' if f_flat else 'NO'}, whole pool loaded) "
          f"(saved to {path.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
