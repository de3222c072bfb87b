"""Benchmark (not a test): train the base-config CLIP on 2 threads, score a 3000-image pool.

Run (from the project root): .venv/bin/python benchmarks/bench_clip.py [GRID.png]
(env BENCH_EPOCHS overrides the training epochs; GRID.png gets the kept-vs-rejected grid).
The pool is 300 real_reserve images per class, 20% of them given a wrong label, so the
scores can be checked: mislabeled images should score lower (AUC) and be dropped first.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import torch
import yaml

from _common import typed, write_result
from genaug.datasets import IDXImageDataset
from genaug.models.pool_filter import select_kept
from genaug.pipelines.data_processing.nodes import make_real_splits
from genaug.pipelines.filtering.nodes import (
    evaluate_clip,
    filter_pool,
    plot_filter_grid,
    score_pool,
    train_clip,
)
from genaug.schemas.data_processing import DataProcessingParams
from genaug.schemas.filtering import FilteringParams, FilterParams

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    """Train, score, filter and print the figures."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)
    conf = REPO / "conf" / "base"
    params = {}
    for name in ("parameters.yml", "parameters_data_processing.yml", "parameters_filtering.yml"):
        params.update(yaml.safe_load((conf / name).read_text()))
    if os.environ.get("BENCH_EPOCHS"):
        params["filtering"]["clip"]["closed_set"]["train"]["epochs"] = int(
            os.environ["BENCH_EPOCHS"])
    catalog = yaml.safe_load((conf / "catalog.yml").read_text())
    raw = {}
    for split in ("raw_train", "raw_test"):
        entry = {k: v for k, v in catalog[split].items() if k != "type"}
        for key in ("images_filepath", "labels_filepath"):
            entry[key] = str(REPO / entry[key])
        raw[split] = IDXImageDataset(**entry).load()
    real_train, real_reserve, real_test, names = make_real_splits(
        raw["raw_train"], raw["raw_test"], typed(DataProcessingParams, params, "data_processing"),
        params["seed"])
    gen = torch.Generator().manual_seed(0)
    idx = torch.cat([torch.nonzero(real_reserve["labels"] == c).flatten()[:300]
                     for c in range(len(names))])
    labels = real_reserve["labels"][idx].clone()
    wrong = torch.rand(labels.shape[0], generator=gen) < 0.2
    shift = torch.randint(1, len(names), (labels.shape[0],), generator=gen)
    labels[wrong] = (labels[wrong] + shift[wrong]) % len(names)
    pool = {"images": real_reserve["images"][idx].contiguous(), "labels": labels}

    t0 = time.perf_counter()
    model, log = train_clip(real_train, names, typed(FilteringParams, params, "filtering"),
                            params["seed"], "cpu")
    t1 = time.perf_counter()
    scores = score_pool(model, pool, names, typed(FilteringParams, params, "filtering"), "cpu")
    t2 = time.perf_counter()
    report = evaluate_clip(model, real_test, names, log,
                           typed(FilteringParams, params, "filtering"), "cpu")
    t3 = time.perf_counter()
    s = scores["scores"]
    clean, noisy = s[~wrong], s[wrong]
    auc = float((clean.view(-1, 1) > noisy.view(1, -1)).float().mean())
    filter_params = typed(FilterParams, params, "filter")
    kept, summary = filter_pool(pool, scores, names, filter_params)
    assert len(kept["labels"]) == summary["kept"]
    kept_mask = select_kept(s, labels, len(names), filter_params.drop_fraction,
                            filter_params.mode, names)
    out = {
        "threads": torch.get_num_threads(), "epochs": len(log["epoch_loss"]),
        "train_cpu_seconds": round(log["train_cpu_seconds"], 1),
        "real_train": int(real_train["labels"].numel()),
        "pool": int(labels.numel()), "train_seconds": round(t1 - t0, 1),
        "score_seconds": round(t2 - t1, 1), "train_plus_score_seconds": round(t2 - t0, 1),
        "eval_real_test_seconds": round(t3 - t2, 1),
        "loss_first_last_epoch": [log["epoch_loss"][0], log["epoch_loss"][-1]],
        "real_test_zero_shot_top1": report["zero_shot_top1"],
        "real_test_own_vs_other_similarity": [report["mean_own_class_similarity"],
                                              report["mean_other_class_similarity"]],
        "pool_mislabeled_fraction": float(wrong.float().mean()),
        "auc_clean_vs_mislabeled": auc,
        "mean_score_clean_vs_mislabeled": [float(clean.mean()), float(noisy.mean())],
        "drop_0.2_mislabeled_in_dropped": float(wrong[~kept_mask].float().mean()),
        "drop_0.2_mislabeled_in_kept": float(wrong[kept_mask].float().mean()),
    }
    print(json.dumps(out, indent=1))
    path = write_result("clip", "\n".join([
        "# Closed-set CLIP: training, scoring a 3000-image pool (20 % mislabeled)", "",
        "```json", json.dumps(out, indent=1), "```", ""]))
    print(f"SUMMARY: CLIP train {out['train_seconds']} s ({out['epochs']} epochs, "
          f"{out['threads']} threads), score {out['pool']} images {out['score_seconds']} s; "
          f"zero-shot top-1 {out['real_test_zero_shot_top1']:.3f}, AUC clean vs mislabeled "
          f"{auc:.3f} (saved to {path.relative_to(REPO)})")
    if len(sys.argv) > 1:
        plot_filter_grid(pool, scores, names, filter_params).savefig(sys.argv[1], dpi=110)


if __name__ == "__main__":
    main()
