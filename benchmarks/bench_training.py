"""Classifier training throughput: the Kedro `train_classifier` node vs a bare PyTorch loop.

Usage (from the project root):
    .venv/bin/python benchmarks/bench_training.py [--strategies real_only joint] [--epochs 3]
        [--repeats 4] [--threads 2] [--eval-per-class 200]

Both paths train the conf/base `training` model (`genaug.models.classifiers` builder, same seed
so the same initial weights) on the same `real_train` (the data_processing node on the shipped
Fashion-MNIST IDX files), with the same batch size, augmentation (`build_augment`, per-image
crop + flip), AdamW, cosine schedule and label smoothing. The node runs through Kedro's
SequentialRunner on a one-node pipeline (the training template's node, MemoryDataset inputs), so
its time includes parameter validation (the arm's effective `TrainingParams`, built as the
parameter hook builds it), data copies, model packing and the runner. `joint` mixes
each batch half real, half "synthetic" (stand-in: real_reserve images, timing only).

The runs are interleaved in ABBA order (node, bare, bare, node, ...) after an untimed one-epoch
warm-up of each. images/s = training images pushed through forward+backward / wall time of the
whole call. The point is the ratio node/bare (target >= 0.95), taken as the median of the
per-pair ratios; the CPU-time ratio is printed too, as it is less sensitive to other processes
on the machine. Top-1 on a real_test subset is a sanity check.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from _common import load_average, typed, write_result
from genaug.common.seeding import derive_seed
from genaug.datasets import IDXImageDataset
from genaug.models.batches import build_augment
from genaug.models.classifier_training import predict
from genaug.models.classifiers import build_classifier, unpack_states
from genaug.pipelines.data_processing.nodes import make_real_splits
from genaug.pipelines.training.pipeline import create_template
from genaug.schemas.base import deep_merge, parse
from genaug.schemas.data_processing import DataProcessingParams
from genaug.schemas.training import TrainingParams

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.95


def load_params() -> dict[str, Any]:
    """conf/base parameters (the files this benchmark needs), merged."""
    params: dict[str, Any] = {}
    for name in ("parameters.yml", "parameters_data_processing.yml",
                 "parameters_training.yml"):
        params.update(yaml.safe_load((ROOT / "conf/base" / name).read_text()))
    return params


def load_data(params: dict[str, Any]) -> tuple[dict, dict, dict, list[str]]:
    """real_train, real_reserve, real_test, class_names from the shipped IDX files."""
    raw = ROOT / "data/01_raw/fashion-mnist"

    def load(split: str) -> dict[str, torch.Tensor]:
        return IDXImageDataset(
            images_filepath=str(raw / f"{split}-images-idx3-ubyte.gz"),
            labels_filepath=str(raw / f"{split}-labels-idx1-ubyte.gz")).load()

    return make_real_splits(load("train"), load("t10k"),
                            typed(DataProcessingParams, params, "data_processing"),
                            params["seed"])


def effective(defaults: dict[str, Any], overrides: dict[str, Any]) -> TrainingParams:
    """An arm's effective training block, built as the parameter hook builds it."""
    return parse(TrainingParams, deep_merge(defaults, overrides), "training")


# --------------------------------------------------------------------------- node path

def run_node(data: dict[str, Any], params: dict[str, Any], overrides: dict[str, Any]
             ) -> tuple[float, float, int, dict[str, torch.Tensor], dict[str, Any]]:
    """Run the training template's node through Kedro's SequentialRunner; time the run.

    The timed call includes building the arm's effective block (deep merge + validation),
    which the node did itself before the parameter hook took it over.
    """
    pipe = create_template()
    inputs = {"real_train": data["train"], "real_reserve": data["reserve"],
              "class_names": data["names"], "synthetic_kept": data["synthetic"],
              "params:seed": params["seed"], "params:device": "cpu"}
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in inputs.items()})
    start, cpu = time.perf_counter(), time.process_time()
    catalog["params:training"] = MemoryDataset(effective(params["training"], overrides))
    out = SequentialRunner().run(pipe, catalog)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    weights, history = (_value(out["classifier"]), _value(out["training_history"]))
    images = sum(sum(p["images_seen"].values()) for run in history["runs"].values()
                 for p in run["phases"])
    return seconds, cpu, images, weights, history


def _value(item: Any) -> Any:
    """A runner output: the dataset's data (Kedro 1.x returns datasets) or the data itself."""
    return item.load() if hasattr(item, "load") else item


# --------------------------------------------------------------------------- bare path

def run_bare(data: dict[str, Any], cfg: TrainingParams, seed: int
             ) -> tuple[float, float, int, torch.nn.Module]:
    """A plain PyTorch loop with the node's model, data, batches, augmentation and optimiser."""
    start, cpu = time.perf_counter(), time.process_time()
    train_seed = derive_seed(seed, "training", cfg.seeds[0])
    torch.manual_seed(train_seed)
    gen = torch.Generator().manual_seed(train_seed)
    real, syn = data["train"], data["synthetic"]
    model = build_classifier(cfg, real["images"].shape[1], len(data["names"]))
    joint = cfg.strategy == "joint"
    images, labels = real["images"], real["labels"]
    n_real, bs = labels.numel(), cfg.batch_size
    if joint:
        images = torch.cat([images, syn["images"]])
        labels = torch.cat([labels, syn["labels"]])
        n_syn_batch = round(bs * cfg.synthetic_fraction)
        n_real_batch = bs - n_syn_batch
        steps_per_epoch = math.ceil(n_real / n_real_batch)
        real_stream = _stream(n_real, gen)
        syn_stream = _stream(syn["labels"].numel(), gen)
    else:
        steps_per_epoch = math.ceil(n_real / bs)
    total = steps_per_epoch * cfg.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr,
                                  weight_decay=cfg.weight_decay)
    augment = build_augment(cfg.augment, tuple(images.shape[-2:]), gen)
    model.train()
    step = count = 0
    for _ in range(cfg.epochs):
        if joint:
            batches = (torch.cat([real_stream(n_real_batch), syn_stream(n_syn_batch) + n_real])
                       for _ in range(steps_per_epoch))
        else:
            batches = torch.randperm(n_real, generator=gen).split(bs)
        loss_sum = 0.0
        for index in batches:
            x, y = images[index], labels[index]
            if augment is not None:
                x = augment(x)
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
            loss = F.cross_entropy(model(x.float().div_(127.5).sub_(1.0)), y,
                                   label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach())
            step += 1
            count += y.numel()
    return time.perf_counter() - start, time.process_time() - cpu, count, model


def _stream(n: int, gen: torch.Generator):
    """`take(k)`: the next k indices of an endless seeded stream, reshuffled every pass."""
    state = {"perm": torch.empty(0, dtype=torch.int64), "pos": 0}

    def take(k: int) -> torch.Tensor:
        parts = []
        while k > 0:
            if state["pos"] >= state["perm"].numel():
                state["perm"], state["pos"] = torch.randperm(n, generator=gen), 0
            chunk = state["perm"][state["pos"]:state["pos"] + k]
            state["pos"] += chunk.numel()
            k -= chunk.numel()
            parts.append(chunk)
        return torch.cat(parts)

    return take


# --------------------------------------------------------------------------- main

def top1(model: torch.nn.Module, test: dict[str, torch.Tensor]) -> float:
    """Top-1 accuracy on a test bundle."""
    logits = predict(model, test["images"], None, torch.device("cpu"), 512)
    return float((logits.argmax(1) == test["labels"]).float().mean())


def main() -> None:
    """Interleave node and bare runs per strategy; print images/s and the node/bare ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", nargs="+", default=["real_only", "joint"],
                        choices=["real_only", "joint"])
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per timed run, the same for node and bare "
                             "(conf/base: 20; throughput does not depend on it)")
    parser.add_argument("--repeats", type=int, default=4, help="timed node+bare pairs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-per-class", type=int, default=200,
                        help="real_test images per class for the top-1 sanity check")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # Kedro's runner/catalog chatter off (the node's own genaug logging stays as in a run).
    logging.getLogger("kedro").setLevel(logging.WARNING)
    params = load_params()
    if params["training"].get("normalize", {}).get("mean") is not None:
        raise SystemExit("the bare loop assumes training.normalize mean/std null (x/127.5-1)")
    if params["training"].get("lr_schedule") != "cosine" or \
            params["training"].get("optimizer") != "adamw":
        raise SystemExit("the bare loop is written for optimizer adamw + lr_schedule cosine")
    train, reserve, test, names = load_data(params)
    k = len(names)
    n_syn = train["labels"].numel() // k * 3  # conf/base pool is 3x real (before filtering)
    idx = torch.cat([torch.nonzero(reserve["labels"] == c).flatten()[:n_syn] for c in range(k)])
    synthetic = {"images": reserve["images"][idx].contiguous(),
                 "labels": reserve["labels"][idx].contiguous()}
    eval_idx = torch.cat([torch.nonzero(test["labels"] == c).flatten()[:args.eval_per_class]
                          for c in range(k)])
    test = {"images": test["images"][eval_idx], "labels": test["labels"][eval_idx]}
    data = {"train": train, "reserve": reserve, "synthetic": synthetic, "names": names}
    machine = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    models = [ln.split(":", 1)[1].strip() for ln in
              (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
              if ln.startswith("model name")]
    machine = f"{models[0] if models else machine}, {os.cpu_count()} logical CPUs"
    header = (f"machine: {machine}, {torch.get_num_threads()} torch threads "
              f"(--threads {args.threads}), torch {torch.__version__}, "
              f"cuda={torch.cuda.is_available()} (CPU used)")
    print(header)
    tr = params["training"]
    print(f"real_train {train['labels'].numel()} images, stand-in synthetic "
          f"{synthetic['labels'].numel()} (real_reserve), {tr['architecture']} "
          f"{tr['fast_cnn']['widths']}, batch {tr['batch_size']}, {tr['optimizer']} "
          f"lr {tr['lr']} {tr['lr_schedule']}, augment {tr['augment']}; "
          f"{args.epochs} epochs per run (conf/base {tr['epochs']}), {args.repeats} "
          f"interleaved node/bare pairs after a 1-epoch warm-up")

    rows, summaries = [], []
    total_start, load_start = time.perf_counter(), load_average()
    for strategy in args.strategies:
        over = {"strategy": strategy, "epochs": args.epochs, "seeds": [0]}
        cfg = effective(tr, over)
        warm = effective(tr, dict(over, epochs=1))
        run_node(data, params, dict(over, epochs=1))
        run_bare(data, warm, params["seed"])
        node_rates, bare_rates, loop_rates, wall_ratios, cpu_ratios = [], [], [], [], []
        for r in range(args.repeats):
            # ABBA order (node first in odd pairs, bare first in even ones) cancels slow drift.
            order = ("node", "bare") if r % 2 == 0 else ("bare", "node")
            for which in order:
                if which == "node":
                    secs, n_cpu, n_img, weights, hist = run_node(data, params, over)
                else:
                    b_secs, b_cpu, b_img, bare_model = run_bare(data, cfg, params["seed"])
            if b_img != n_img:
                raise SystemExit(f"node trained on {n_img} images, bare on {b_img}")
            node_rates.append(n_img / secs)
            bare_rates.append(b_img / b_secs)
            loop_secs = sum(p["seconds"] for run in hist["runs"].values() for p in run["phases"])
            loop_rates.append(n_img / loop_secs)
            wall_ratios.append(node_rates[-1] / bare_rates[-1])
            cpu_ratios.append(b_cpu / n_cpu)
            print(f"  {strategy} pair {r + 1} ({' then '.join(order)}): node {n_img} images in "
                  f"{secs:.2f} s ({node_rates[-1]:.0f} images/s; loop only "
                  f"{loop_rates[-1]:.0f}; {n_cpu:.1f} CPU s), bare {b_secs:.2f} s "
                  f"({bare_rates[-1]:.0f} images/s; {b_cpu:.1f} CPU s); ratio wall "
                  f"{wall_ratios[-1]:.3f}, CPU {cpu_ratios[-1]:.3f}; load {load_average()}",
                  flush=True)
        node_model = build_classifier(cfg, train["images"].shape[1], k)
        node_model.load_state_dict(unpack_states(weights)[0])
        acc_node, acc_bare = top1(node_model, test), top1(bare_model, test)
        ratio = statistics.median(wall_ratios)
        rows.append((strategy, n_img, statistics.median(node_rates),
                     statistics.median(loop_rates), statistics.median(bare_rates), ratio,
                     min(wall_ratios), max(wall_ratios), statistics.median(cpu_ratios),
                     acc_node, acc_bare))
        summaries.append(f"{strategy} node/bare {ratio:.3f} (CPU-time ratio "
                         f"{statistics.median(cpu_ratios):.3f}; {rows[-1][2]:.0f} vs "
                         f"{rows[-1][4]:.0f} images/s)")
    elapsed = time.perf_counter() - total_start
    load_end = load_average()

    table = ["| strategy | images per run | node images/s | node loop-only images/s | "
             "bare images/s | **ratio node/bare** (median of pairs) | pair ratios min–max | "
             "CPU-time ratio | top-1 node | top-1 bare |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for st, n, nr, lr, br, ratio, lo, hi, cr, an, ab in rows:
        table.append(f"| {st} | {n} | {nr:.0f} | {lr:.0f} | {br:.0f} | **{ratio:.3f}** | "
                     f"{lo:.3f}–{hi:.3f} | {cr:.3f} | {an:.3f} | {ab:.3f} |")
    ok = all(r[5] >= TARGET for r in rows)
    spread = max(r[7] / r[6] for r in rows)
    noisy = spread > 1.15
    noise = (f"The pair ratios spread by up to x{spread:.2f}: the machine was not quiet (load "
             f"average {load_start} at start, {load_end} at end on {os.cpu_count()} CPUs); "
             "trust the CPU-time ratio and rerun on an idle machine." if noisy else
             f"Pair ratios agree within x{spread:.2f} (load average {load_start} -> {load_end}).")
    verdict = f"{'met' if ok else 'MISSED'}"
    print("\n".join(table))
    print(noise)
    print(f"benchmark wall time {elapsed:.0f} s")
    text = "\n".join([
        "# Classifier training: Kedro node vs bare PyTorch loop", "",
        f"Command: `.venv/bin/python benchmarks/bench_training.py --strategies "
        f"{' '.join(args.strategies)} --epochs {args.epochs} --repeats {args.repeats} "
        f"--threads {args.threads}`", "",
        header + ".", "",
        f"Same model ({tr['architecture']} {tr['fast_cnn']['widths']}, same seed and so the "
        f"same initial weights), data (real_train {train['labels'].numel()} images; joint adds "
        f"{synthetic['labels'].numel()} real_reserve images as stand-in synthetic, "
        f"{tr['synthetic_fraction']:.0%} of each batch), batch size {tr['batch_size']}, "
        f"augmentation, AdamW and cosine schedule; {args.epochs} epochs per run, "
        f"{args.repeats} node/bare pairs in ABBA order after a 1-epoch warm-up of each. "
        "*node* = the training template's node run by Kedro's SequentialRunner (whole call: "
        "validation, MemoryDataset copies, training, packing); *loop-only* = the node's own "
        "training-loop time (`history.seconds`); images/s columns are medians over the "
        "pairs; the ratio is the median of the per-pair ratios (adjacent runs see similar "
        "machine load); *CPU-time ratio* = bare CPU s / node CPU s (less sensitive to other "
        f"processes). Top-1 on {test['labels'].numel()} real_test images after the last runs "
        "(same value = the two paths train identically).", "",
        *table, "",
        f"Target ratio >= {TARGET}: {verdict}. {noise} Benchmark wall time {elapsed:.0f} s.",
        ""])
    path = write_result("training", text)
    print(f"SUMMARY: training throughput ({torch.get_num_threads()} threads, {args.epochs} "
          f"epochs/run, {args.repeats} pairs): {'; '.join(summaries)}; target >= {TARGET} "
          f"{verdict}{' (noisy machine, see results)' if noisy else ''} "
          f"(saved to {path.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
