"""Sampling throughput: the synthesis pool node vs a bare diffusers loop (same model/scheduler).

Usage (from the project root):
    .venv/bin/python benchmarks/bench_sampling.py [--images 200] [--threads 2]

Both paths use the conf/base `synthesis` parameters (UNet size, scheduler, steps, guidance,
batch size) and a randomly initialised UNet of that shape (throughput does not depend on the
weights). Prints images/s for each and the node/bare ratio (1.0 = no overhead).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import yaml
from diffusers import DPMSolverMultistepScheduler

from _common import typed, write_result
from genaug.models import diffusion as D
from genaug.pipelines.synthesis import nodes as N
from genaug.schemas.synthesis import SynthesisParams

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Time both sampling paths and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    conf = yaml.safe_load((ROOT / "conf/base/parameters_synthesis.yml").read_text())
    params = conf["synthesis"]
    k, per_class = args.classes, -(-args.images // args.classes)
    params["pool"] = {"per_class": per_class, "multiple_of_real": None,
                      "shard_size": params["pool"]["shard_size"]}
    params["num_threads"] = None
    cfg = typed(SynthesisParams, conf, "synthesis")
    names = [f"class_{i}" for i in range(k)]
    m = cfg.model
    torch.manual_seed(0)
    unet = D.build_unet(k, 1, 28, m.block_out_channels, m.layers_per_block,
                        m.norm_num_groups, m.attention)
    train_sched = D.build_train_scheduler(cfg.train.num_train_timesteps,
                                          cfg.train.beta_schedule)
    meta = {"kind": "closed_set", "unet_config": dict(unet.config),
            "scheduler_config": dict(train_sched.config), "num_classes": k,
            "class_names": names, "image_shape": [1, 28, 28], "sample_size": 28,
            "pads": [0, 0, 0, 0], "null_class": k}
    generator = D.pack_generator(unet, meta)
    real = {"images": torch.zeros(k, 1, 28, 28, dtype=torch.uint8),
            "labels": torch.arange(k)}
    s = cfg.sampling
    if s.scheduler != "dpmsolver++":
        raise SystemExit("the bare loop is written for synthesis.sampling.scheduler=dpmsolver++")
    n = per_class * k
    print(f"{n} images, {s.scheduler} {s.steps} steps, guidance {s.guidance_scale}, "
          f"batch {s.batch_size}, UNet {m.block_out_channels}, {args.threads} threads")

    t0 = time.perf_counter()
    count = 0
    # Validation stays timed: the node did it itself before the parameter hook took it over.
    pool = N.generate_synthetic_pool(generator, real, names,
                                     typed(SynthesisParams, conf, "synthesis"), 0, "cpu")
    for make in pool.makers:
        count += make()["images"].shape[0]
    node_rate = count / (time.perf_counter() - t0)

    bare_unet = D.UNet2DModel.from_config(meta["unet_config"])
    bare_unet.load_state_dict(unet.state_dict())
    bare_unet.eval()
    labels = torch.arange(n) % k
    guided = s.guidance_scale != 1.0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, n, s.batch_size):
            y = labels[lo:lo + s.batch_size]
            sched = DPMSolverMultistepScheduler.from_config(
                train_sched.config, algorithm_type="dpmsolver++", thresholding=True,
                sample_max_value=1.0)
            sched.set_timesteps(s.steps)
            x = torch.randn(y.numel(), 1, 28, 28)
            yy = torch.cat([y, torch.full_like(y, k)]) if guided else y
            for t in sched.timesteps:
                inp = torch.cat([x, x]) if guided else x
                eps = bare_unet(inp, t, class_labels=yy).sample
                if guided:
                    c, u = eps.chunk(2)
                    eps = u + s.guidance_scale * (c - u)
                x = sched.step(eps, t, x).prev_sample
    bare_rate = n / (time.perf_counter() - t0)
    line = (f"node: {node_rate:.1f} images/s; bare diffusers loop: {bare_rate:.1f} images/s; "
            f"ratio node/bare = {node_rate / bare_rate:.3f}")
    print(line)
    path = write_result("sampling", "\n".join([
        "# Sampling: synthesis pool node vs bare diffusers loop", "",
        f"{n} images, {s.scheduler} {s.steps} steps, guidance {s.guidance_scale}, "
        f"batch {s.batch_size}, UNet {m.block_out_channels} (random weights), "
        f"{torch.get_num_threads()} torch threads, CPU.", "", line + ".", ""]))
    print(f"SUMMARY: sampling node/bare {node_rate / bare_rate:.3f} ({node_rate:.1f} vs "
          f"{bare_rate:.1f} images/s, {s.steps} steps) (saved to {path.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
