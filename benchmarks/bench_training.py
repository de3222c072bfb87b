"""Measure conf/base training on Fashion-MNIST (2 threads): baseline and optional synthetic arms.

Usage: PYTHONPATH=src python benchmarks/bench_training.py [strategy ...] [--epochs N]
Synthetic images are stood in for by extra real reserve images (timing only, not quality).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import torch
import yaml

from genaug.datasets import IDXImageDataset
from genaug.pipelines.data_processing.nodes import make_real_splits
from genaug.pipelines.evaluation.nodes import evaluate_classifier, train_evaluator
from genaug.pipelines.training.nodes import train_classifier

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    """Train the requested arms once and print seconds and test accuracy."""
    parser = argparse.ArgumentParser()
    parser.add_argument("strategies", nargs="*", default=["real_only"])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--evaluator", action="store_true")
    parser.add_argument("--n-synthetic-per-class", type=int, default=240)
    args = parser.parse_args()
    torch.set_num_threads(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    raw = ROOT / "data/01_raw/fashion-mnist"
    load = lambda split: IDXImageDataset(  # noqa: E731
        images_filepath=str(raw / f"{split}-images-idx3-ubyte.gz"),
        labels_filepath=str(raw / f"{split}-labels-idx1-ubyte.gz")).load()
    base = yaml.safe_load((ROOT / "conf/base/parameters.yml").read_text())
    dp = yaml.safe_load((ROOT / "conf/base/parameters_data_processing.yml").read_text())
    tr = yaml.safe_load((ROOT / "conf/base/parameters_training.yml").read_text())
    ev = yaml.safe_load((ROOT / "conf/base/parameters_evaluation.yml").read_text())
    seed = base["seed"]
    train, reserve, test, names = make_real_splits(load("train"), load("t10k"),
                                                   dp["data_processing"], seed)
    n_syn = args.n_synthetic_per_class
    # stand-in "synthetic" set: reserve images (only for timing)
    idx = torch.cat([torch.nonzero(reserve["labels"] == c).flatten()[:n_syn]
                     for c in range(len(names))])
    fake = {"images": reserve["images"][idx], "labels": reserve["labels"][idx]}
    if args.evaluator:
        t = time.perf_counter()
        evaluator = train_evaluator(train, reserve, test, names, ev["evaluation"], seed, "cpu")
        print(f"evaluator: {time.perf_counter() - t:.1f} s")
    else:
        evaluator = None
    for strategy in args.strategies:
        over = {"strategy": strategy}
        if args.epochs is not None:
            over["epochs"] = args.epochs
        t = time.perf_counter()
        clf, hist = train_classifier(train, reserve, names, fake, tr["training"], over, seed,
                                     "cpu")
        secs = time.perf_counter() - t
        params_eval = dict(ev["evaluation"], feature_extractor="evaluator-cnn")
        if evaluator is None:
            params_eval["compute_fid"] = False
        metrics = evaluate_classifier(clf, hist, fake, test, train, reserve, evaluator, names,
                                      params_eval, {}, tr["training"], over, seed, "cpu")
        print(f"{strategy}: train {secs:.1f} s, top1 {metrics['top1_mean']:.4f}, "
              f"fid {metrics['fid']}, is {metrics['inception_score']}, "
              f"seen {[p['images_seen'] for p in hist['runs']['0']['phases']]}")


if __name__ == "__main__":
    main()
