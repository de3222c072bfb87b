"""The GPU check: one script that shows the GPU path works and how fast each stage runs.

    .venv/bin/python benchmarks/gpu_check.py            # on a CUDA machine: ~8 min on one H100
    .venv/bin/python benchmarks/gpu_check.py --tiny     # the same code at tiny size (CPU: ~5 min)

(a) the embedded default's `ablation_threshold` with its default seeds (tiny: on conf/test);
(b) the gpu preset at reduced steps through the documented user-data path: `--env gpu` with a
    conf/local that points `raw_train`/`raw_test` at a CIFAR-10-shaped image folder (3×32×32,
    10 classes: Fashion-MNIST padded to 32 and repeated to RGB) this script writes;
(c) throughput per stage (generator training, pool sampling, CLIP and classifier training) with and
    without bf16, channels_last and torch.compile, timed on the project's own node functions
    with the preset's model sizes (tiny: conf/test's), after one untimed warm-up call.
Writes the figures to benchmarks/results/gpu.md (tiny: gpu_tiny.md; `--out` to choose) and prints
a SUMMARY line. The tiny run checks that everything runs; its speeds mean nothing for a GPU.
Without CUDA, `--tiny` is implied and the report says it ran on the CPU.
"""

from __future__ import annotations

import argparse
import functools
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from _common import RESULTS, in_dir, load_average, scratch_project
from genaug.config import ValidatingConfigLoader
from genaug.datasets import IDXImageDataset
from genaug.models.classifier_training import train_evaluator_network
from genaug.models.clip_training import train_closed_set_clip
from genaug.models.diffusion_sampling import PoolSampler
from genaug.pipelines.synthesis.nodes import train_generator
from genaug.schemas.base import Schema, deep_merge, parse
from genaug.settings import CONFIG_LOADER_ARGS

CLASSES = [f"class_{k}" for k in range(10)]
PART_A, PART_B = "(a) default ablation_threshold", "(b) gpu preset on an image folder"
# Part (b): images per class in the folder, and the preset's steps cut to fit the check.
FOLDER = {"full": (200, 100), "tiny": (16, 10)}  # (train, test) per class
REDUCED = {
    "full": {"data_processing": {"train_per_class": 50, "reserve_per_class": 150},
             "synthesis": {"train": {"steps": 400, "warmup_steps": 50}},
             "filtering": {"clip": {"closed_set": {"train": {"epochs": 3}}}},
             "training": {"seeds": 2, "epochs": 5, "pretrain": {"epochs": 2},
                          "finetune": {"epochs": 3}},
             "evaluation": {"evaluator": {"epochs": 3}}},
    "tiny": {"data_processing": {"train_per_class": 6, "reserve_per_class": 10},
             "synthesis": {"model": {"block_out_channels": [8, 16], "norm_num_groups": 4,
                                     "layers_per_block": 1, "attention": False},
                           "train": {"steps": 4, "batch_size": 8, "warmup_steps": 1},
                           "sampling": {"steps": 2, "batch_size": 16},
                           "pool": {"multiple_of_real": 1, "shard_size": 30}},
             "filtering": {"clip": {"closed_set": {
                 "embed_dim": 16, "vision": {"width": 32, "layers": 1, "head_width": 16},
                 "text": {"width": 32, "heads": 2, "layers": 1},
                 "train": {"epochs": 1, "batch_size": 8, "warmup_steps": 0}}}},
             "training": {"seeds": 1, "epochs": 1, "batch_size": 16, "pretrain": {"epochs": 1},
                          "finetune": {"epochs": 1}},
             "evaluation": {"batch_size": 64, "is_splits": 2,
                            "evaluator": {"epochs": 1, "batch_size": 16}}},
}
# Part (c): optimiser steps (or pool images) per timed call.
STEPS = {"full": {"classifier": 200, "generator": 200, "sampling": 1000, "clip": 100},
         "tiny": {"classifier": 3, "generator": 3, "sampling": 16, "clip": 3}}
# The switch settings timed for the classifier and the generator (same keys in both blocks).
VARIANTS = {
    "fp32": {"precision": "fp32", "channels_last": False},
    "bf16": {"precision": "bf16", "channels_last": False},
    "bf16 + channels_last": {"precision": "bf16", "channels_last": True},
    "bf16 + channels_last + compile": {"precision": "bf16", "channels_last": True,
                                       "compile": True},
}
CURVE = {"full": [10, 25, 50, 100, 150], "tiny": [1, 2, 4, 6, 8]}


def write_image_folder(root: Path, per_class: tuple[int, int]) -> None:
    """train/ and test/ folders of 3×32×32 PNGs, 10 classes: Fashion-MNIST padded and in RGB."""
    raw = Path(__file__).resolve().parents[1] / "data" / "01_raw" / "fashion-mnist"
    for split, prefix, count in (("train", "train", per_class[0]), ("test", "t10k", per_class[1])):
        bundle = IDXImageDataset(images_filepath=str(raw / f"{prefix}-images-idx3-ubyte.gz"),
                                 labels_filepath=str(raw / f"{prefix}-labels-idx1-ubyte.gz")
                                 ).load()
        for k, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i, index in enumerate(torch.nonzero(bundle["labels"] == k)[:count, 0]):
                grey = np.pad(bundle["images"][index, 0].numpy(), 2)
                Image.fromarray(np.stack([grey] * 3, axis=-1)).save(folder / f"{i}.png")


def user_conf(root: Path, size: str) -> None:
    """conf/local over the gpu preset: the image folder as raw data, reduced steps."""
    local = root / "conf" / "local"
    catalog = {f"raw_{split}": {"type": "genaug.datasets.ImageFolderDataset", "image_size": 32,
                                "path": str(root / "images" / split), "channels": 3}
               for split in ("train", "test")}
    (local / "catalog.yml").write_text(yaml.safe_dump(catalog))
    params = deep_merge(REDUCED[size], {"data_processing": {
        "class_names": CLASSES, "classes": None, "image_shape": [3, 32, 32],
        "test_per_class": None}})
    for index, count in enumerate(CURVE[size], start=1):
        params[f"real_curve_{index}"] = {"training": {"extra_real_per_class": count}}
    (local / "parameters.yml").write_text(yaml.safe_dump(params))


def timed_run(root: Path, env: str | None, pipeline: str) -> float:
    """Wall seconds of `kedro run --pipeline <pipeline> --env <env>` in the project at root."""
    bootstrap_project(root)
    with in_dir(root), KedroSession.create(project_path=root, env=env) as session:
        start = time.perf_counter()
        session.run(pipeline_names=[pipeline])
        return time.perf_counter() - start


def parameters(root: Path, env: str) -> dict[str, Any]:
    """The validated parameter tree a run in `root` under `env` would get."""
    return ValidatingConfigLoader(str(root / "conf"), env=env, **CONFIG_LOADER_ARGS)[
        "parameters"]


def changed(block: Schema, **updates: Any) -> Schema:
    """A copy of a parameter block with some keys changed (dotted keys for nested ones)."""
    tree = block.to_dict()
    for dotted, value in updates.items():
        *parents, key = dotted.split(".")
        node = tree
        for parent in parents:
            node = node[parent]
        node[key] = value
    return parse(type(block), tree, "gpu_check")


def rate(call: Callable[[], Any], work: int) -> float:
    """Work units per second of `call`, timed after one untimed warm-up call."""
    call()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    call()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return work / (time.perf_counter() - start)


def classifier_rates(params: dict[str, Any], device: torch.device, steps: int
                     ) -> dict[str, float]:
    """Classifier training images/s (the preset's evaluator network) per switch setting."""
    base = params["evaluation"].evaluator
    n = base.batch_size * steps
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(n) % len(CLASSES)
    out = {}
    for name, switches in VARIANTS.items():
        p = changed(base, epochs=1, **switches)
        train = functools.partial(train_evaluator_network, p, images, labels, len(CLASSES), 0,
                                  device)
        out[f"classifier training, {name}"] = rate(train, n)
    return out


def generator_rates(params: dict[str, Any], device: torch.device, steps: int, images: int
                    ) -> dict[str, float]:
    """Generator training images/s and pool sampling images/s per switch setting."""
    n = 4 * params["synthesis"].train.batch_size
    real = {"images": torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8),
            "labels": torch.arange(n) % len(CLASSES)}
    out = {}
    for name, switches in VARIANTS.items():
        p = changed(params["synthesis"], **switches, **{"train.steps": steps})
        made: dict[str, Any] = {}

        def train(p: Schema = p, made: dict[str, Any] = made) -> None:
            made["generator"] = train_generator(real, CLASSES, p, 0, str(device))

        out[f"generator training, {name}"] = rate(train, steps * p.train.batch_size)
        if not switches.get("compile"):  # sampling is never compiled
            sampler = PoolSampler(made["generator"], changed(p, **{"pool.shard_size": images}),
                                  0, CLASSES, (3, 32, 32), -(-images // len(CLASSES)), device)
            out[f"pool sampling, {name}"] = rate(lambda s=sampler: s.shard(0), images)
    return out


def clip_rates(params: dict[str, Any], device: torch.device, steps: int) -> dict[str, float]:
    """Closed-set CLIP training images/s, fp32 and bf16."""
    clip = params["filtering"].clip
    n = clip.closed_set.train.batch_size * steps
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(n) % len(CLASSES)
    out = {}
    for precision in ("fp32", "bf16"):
        cfg = changed(clip, **{"closed_set.train.precision": precision,
                               "closed_set.train.epochs": 1})
        train = functools.partial(train_closed_set_clip, images, labels, CLASSES, cfg, 0, device)
        out[f"CLIP training, {precision}"] = rate(train, n)
    return out


def report(size: str, device: torch.device, seconds: dict[str, float],
           rates: dict[str, float], load: tuple[str, str]) -> str:
    """The Markdown report with its SUMMARY line."""
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    lines = [f"# GPU check ({size} size) on {device.type}: {card or platform.machine()}", "",
             f"torch {torch.__version__}; load average {load[0]} before, {load[1]} after.", "",
             "| run | wall s |", "|---|---:|"]
    lines += [f"| {name} | {value:.1f} |" for name, value in seconds.items()]
    lines += ["", "| stage, switches | images/s |", "|---|---:|"]
    lines += [f"| {name} | {value:.1f} |" for name, value in rates.items()]
    fp32 = rates["classifier training, fp32"]
    best, name = max((v, k) for k, v in rates.items() if k.startswith("classifier"))
    summary = (f"SUMMARY: {device.type} {size}: (a) {seconds[PART_A]:.0f} s, (b) "
               f"{seconds[PART_B]:.0f} s; classifier training {fp32:.0f} img/s fp32, "
               f"{best:.0f} with {name.split(', ')[1]} ({best / fp32:.2f}x)")
    return "\n".join([*lines, "", summary, ""])


def main() -> None:
    """Run (a), (b) and (c); write the report; print the SUMMARY line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (implied without CUDA)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report path (default: results/gpu.md, results/gpu_tiny.md tiny)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    size = "tiny" if args.tiny or device.type != "cuda" else "full"
    load_before = load_average()
    seconds = {PART_A: timed_run(scratch_project(f"gpu-check-a-{size}"),
                                 "test" if size == "tiny" else None, "ablation_threshold")}
    root = scratch_project(f"gpu-check-b-{size}")
    write_image_folder(root / "images", FOLDER[size])
    user_conf(root, size)
    seconds[PART_B] = timed_run(root, "gpu", "ablation_threshold")
    params = parameters(root, "gpu")
    rates = {**classifier_rates(params, device, STEPS[size]["classifier"]),
             **generator_rates(params, device, STEPS[size]["generator"],
                               STEPS[size]["sampling"]),
             **clip_rates(params, device, STEPS[size]["clip"])}
    text = report(size, device, seconds, rates, (load_before, load_average()))
    out = args.out or RESULTS / ("gpu.md" if size == "full" else "gpu_tiny.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
