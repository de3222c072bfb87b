"""What the gpu preset's `ablation_threshold` should cost on one H100, per stage: an estimate
from counted work, until `gpu_check.py` measures it on a GPU.

    .venv/bin/python benchmarks/gpu_estimate.py       # CPU, ~1 min; writes results/gpu_estimate.md

For each stage's network, built with the preset's sizes by the project's own builders, it
counts on the CPU (i) the FLOPs of one training step or one forward per image
(`torch.utils.flop_counter.FlopCounterMode`) and (ii) the bytes autograd saves for the backward
pass per image under bf16 autocast (`torch.autograd.graph.saved_tensors_hooks`), or for
inference the peak of live tensors in a forward (`bench_pretrained_memory.LiveBytes`). It multiplies
them by the images each stage processes at the preset's settings, and converts FLOPs to time at
an ASSUMED sustained rate (`--tflops`, default 150 = about 15 % of the H100's 989 TFLOP/s dense
bf16 peak: small 32×32 networks at batch 128 use a GPU poorly, and this guess is deliberately
modest). Memory per stage = weights, gradients
and optimiser state in fp32 plus the activations of one batch. Both are estimates: kernel
launch overheads, data movement, cuDNN workspaces and the allocator are not in them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from _common import scratch_project, write_result
from bench_pretrained_memory import LiveBytes
from genaug.models.classifiers import build_classifier
from genaug.models.clip import build_clip, build_tokenizer, captions, closed_set_preprocess
from genaug.models.diffusion import build_unet
from gpu_check import parameters

PROBE = 4  # images per probe step (counts are per image, so the probe batch is small)
GIB = 2.0**30


def counted(step: Callable[[], torch.Tensor], backward: bool) -> tuple[float, float]:
    """(FLOPs, activation bytes) of one probe step, per image: for a training step the bytes
    saved for backward, for inference the peak of live tensors in a no-grad forward."""
    if not backward:
        with FlopCounterMode(display=False) as flops, torch.no_grad(), LiveBytes() as live, \
                torch.autocast("cpu", dtype=torch.bfloat16):
            step()
        return flops.get_total_flops() / PROBE, live.peak / PROBE
    saved = [0]

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved[0] += tensor.numel() * tensor.element_size()
        return tensor

    with FlopCounterMode(display=False) as flops, \
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast("cpu", dtype=torch.bfloat16):
        step().backward()
    return flops.get_total_flops() / PROBE, saved[0] / PROBE


def state_bytes(model: torch.nn.Module, optimizer_slots: int, training: bool) -> float:
    """fp32 weights, plus in training their gradients and `optimizer_slots` optimiser tensors."""
    copies = 2 + optimizer_slots if training else 1
    return sum(p.numel() for p in model.parameters()) * 4 * copies


def stages(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Each stage's per-image counts and its work at the preset's settings."""
    data, syn = params["data_processing"], params["synthesis"]
    k, n_real = len(data.class_names), data.train_per_class * len(data.class_names)
    n_reserve = data.reserve_per_class * len(data.class_names)
    pool = syn.pool.multiple_of_real * n_real
    m, t = syn.model, syn.train
    unet = build_unet(k, 3, m.unet_sample_size(32, 32), m.block_out_channels,
                      m.layers_per_block, m.norm_num_groups, m.attention)
    x = torch.randn(PROBE, 3, 32, 32)
    steps = torch.randint(0, 1000, (PROBE,))
    labels = torch.arange(PROBE) % k

    def unet_step() -> torch.Tensor:
        return F.mse_loss(unet(x, steps, class_labels=labels).sample.float(), x)

    clip_cfg = params["filtering"].clip
    clip = build_clip(clip_cfg, (3, 32, 32))
    tokens = build_tokenizer(clip_cfg, clip)(captions(clip_cfg.caption_template,
                                                      data.class_names))
    pixels = closed_set_preprocess(torch.randint(0, 256, (PROBE, 3, 32, 32), dtype=torch.uint8))

    def clip_step() -> torch.Tensor:
        image, text, _ = clip(pixels, tokens[:PROBE])
        return (image @ text.T).float().logsumexp(1).mean()

    training, evaluator = params["training"], params["evaluation"].evaluator
    resnet = build_classifier(training, 3, k)

    def classifier_step() -> torch.Tensor:
        return F.cross_entropy(resnet(x).float(), labels)

    guidance = 2 if syn.sampling.guidance_scale != 1.0 else 1
    per_joint = training.epochs * 2 * n_real  # epoch_basis real: half of each batch is real
    seeds = len(training.seeds)
    arms = 8 * seeds  # drop_10/20/30 and the five curve arms, joint-style
    return [
        dict(stage="generator training", model=unet, step=unet_step, backward=True, slots=2,
             images=t.steps * t.batch_size, batch=t.batch_size),
        dict(stage="pool sampling", model=unet, step=unet_step, backward=False, slots=0,
             images=pool * syn.sampling.steps * guidance, batch=syn.sampling.batch_size * guidance),
        dict(stage="CLIP training", model=clip, step=clip_step, backward=True, slots=2,
             images=clip_cfg.closed_set.train.epochs * n_real,
             batch=clip_cfg.closed_set.train.batch_size),
        dict(stage="evaluator training", model=resnet, step=classifier_step, backward=True,
             slots=1, images=evaluator.epochs * (n_real + n_reserve), batch=evaluator.batch_size),
        dict(stage="classifier trainings", model=resnet, step=classifier_step, backward=True,
             slots=1, images=arms * per_joint + seeds * training.epochs * n_real,
             batch=training.batch_size),
    ]


def main() -> None:
    """Count, estimate, write results/gpu_estimate.md and print its SUMMARY line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tflops", type=float, default=150.0,
                        help="assumed sustained bf16 TFLOP/s (default: 150 on an H100)")
    args = parser.parse_args()
    params = parameters(scratch_project("gpu-estimate"), "gpu")
    rows, total = [], 0.0
    for s in stages(params):
        flops, saved = counted(s["step"], s["backward"])
        seconds = flops * s["images"] / (args.tflops * 1e12)
        memory = (state_bytes(s["model"], s["slots"], s["backward"]) + saved * s["batch"]) / GIB
        total += seconds
        rows.append(f"| {s['stage']} | {s['images'] / 1e6:.2f} M | {flops / 1e9:.2f} | "
                    f"{seconds / 60:.1f} | {memory:.1f} |")
    text = "\n".join([
        "# The gpu preset's ablation_threshold on one H100: estimated, not measured", "",
        f"Counted on the CPU, converted at an assumed {args.tflops:.0f} TFLOP/s sustained bf16 "
        "(see the script's docstring); memory = fp32 weights, gradients and optimiser state "
        "plus one batch's saved activations. Replace with gpu_check.py's figures once run.", "",
        "| stage | images processed | GFLOP per image | minutes | peak GiB |",
        "|---|---:|---:|---:|---:|", *rows, "",
        f"SUMMARY: estimated {total / 60:.0f} min for the gpu preset's ablation_threshold on one "
        f"H100 at {args.tflops:.0f} TFLOP/s sustained (not measured)", ""])
    write_result("gpu_estimate", text)
    print(text)


if __name__ == "__main__":
    main()
