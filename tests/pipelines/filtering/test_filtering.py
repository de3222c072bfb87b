"""Tests of the filtering stage: CLIP training/scoring, the per-arm filter, the pipelines."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import open_clip
import pytest
import torch
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure
from safetensors.torch import save_file

from genaug.common.validation import ParameterError
from genaug.datasets import IDXImageDataset
from genaug.datasets.checkpoints import CheckpointDataset
from genaug.models.pool_filter import select_kept
from genaug.pipelines.arms import arm_pipeline
from genaug.pipelines.filtering import create_pipeline, create_template
from genaug.pipelines.filtering.nodes import (
    evaluate_clip,
    filter_pool,
    plot_filter_grid,
    score_pool,
    train_clip,
)
from tests.support import REPO, filter_params, filtering_params

NAMES = ["T-shirt/top", "Trouser", "Sneaker"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to open a network connection (nothing may be downloaded)."""
    def _refuse(*args, **kwargs):
        raise OSError("network access is not allowed in the filtering tests")

    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)


def _fake_scores(labels: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random scores with deliberate ties, aligned with `labels` (no pixel fingerprint)."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 6, (labels.numel(),), generator=gen).float() / 10
    return {"scores": scores, "labels": labels.clone()}


# ----------------------------------------------------------------------------- the filter


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.3, 0.5, 0.99])
def test_per_class_counts_and_order(fraction, make_bundle) -> None:
    """Each class keeps n - floor(n * f) images, never a lower score than one it dropped."""
    pool = make_bundle(per_class=7, num_classes=3)
    pool["labels"] = pool["labels"][torch.randperm(21, generator=torch.Generator().manual_seed(1))]
    pool["labels"] = torch.cat([pool["labels"], torch.zeros(4, dtype=torch.int64)])
    pool["images"] = torch.cat([pool["images"], pool["images"][:4]])
    scores = _fake_scores(pool["labels"], seed=3)
    kept, summary = filter_pool(pool, scores, NAMES, filter_params({"drop_fraction": fraction}))
    keep = select_kept(scores["scores"], pool["labels"], 3, fraction, "per_class")
    for c, name in enumerate(NAMES):
        n = int((pool["labels"] == c).sum())
        expected = n - math.floor(n * fraction)
        assert int((kept["labels"] == c).sum()) == expected
        assert summary["per_class"][name]["kept"] == expected
        assert summary["per_class"][name]["dropped"] == n - expected
        sel = pool["labels"] == c
        if (sel & ~keep).any():
            assert scores["scores"][sel & keep].min() >= scores["scores"][sel & ~keep].max()
    # kept images keep pool order and are exactly the masked ones
    assert torch.equal(kept["images"], pool["images"][keep])
    assert summary["kept"] + summary["dropped"] == pool["labels"].numel()


def test_ties_break_by_pool_index() -> None:
    """Equal scores: the earlier pool image is kept, the later one dropped."""
    labels = torch.zeros(5, dtype=torch.int64)
    scores = torch.tensor([0.5, 0.5, 0.9, 0.5, 0.1])
    keep = select_kept(scores, labels, 1, 0.4, "per_class")  # drop floor(5*0.4) = 2
    assert keep.tolist() == [True, True, True, False, False]
    assert torch.equal(keep, select_kept(scores, labels, 1, 0.4, "per_class"))


def test_global_mode(make_bundle) -> None:
    """Global mode drops floor(N * f) lowest overall; per-class counts follow the scores."""
    pool = make_bundle(per_class=10, num_classes=3)
    # class 2 scores low, so global mode takes most of its drops from it
    scores = torch.linspace(0, 1, 30)[torch.randperm(30, generator=torch.Generator()
                                                     .manual_seed(0))]
    scores[pool["labels"] == 2] -= 1.0
    data = {"scores": scores, "labels": pool["labels"].clone()}
    kept, summary = filter_pool(pool, data, NAMES,
                                filter_params({"drop_fraction": 0.3, "mode": "global"}))
    assert summary["kept"] == 30 - math.floor(30 * 0.3) == kept["labels"].numel()
    keep = select_kept(scores, pool["labels"], 3, 0.3, "global")
    assert scores[keep].min() >= scores[~keep].max()
    assert summary["global_cutoff"] == pytest.approx(float(scores[keep].min()))
    assert summary["per_class"]["Sneaker"]["dropped"] == 9
    assert summary["per_class"]["T-shirt/top"]["dropped"] == 0
    # per_class mode on the same scores keeps the classes balanced instead
    _, balanced = filter_pool(pool, data, NAMES, filter_params({"drop_fraction": 0.3}))
    assert [balanced["per_class"][n]["kept"] for n in NAMES] == [7, 7, 7]


def test_empty_class_errors(make_bundle) -> None:
    """A class left with zero images is an error (global mode names filter.drop_fraction)."""
    pool = make_bundle(per_class=4, num_classes=3)
    scores = torch.arange(12).float()
    data = {"scores": scores, "labels": pool["labels"].clone()}
    with pytest.raises(ParameterError, match=r"filter\.drop_fraction.*T-shirt/top"):
        filter_pool(pool, data, NAMES, filter_params({"drop_fraction": 0.34,
                                                        "mode": "global"}))
    names4 = [*NAMES, "Bag"]  # class 3 has no pool images at all
    with pytest.raises(ValueError, match="no images of class 'Bag'"):
        filter_pool(pool, data, names4, filter_params())


def test_misaligned_scores_raise(make_bundle) -> None:
    """Scores of another length, other labels or other images are refused."""
    pool = make_bundle(per_class=4, num_classes=3)
    good = _fake_scores(pool["labels"])
    with pytest.raises(ValueError, match="not aligned"):
        filter_pool(pool, {"scores": good["scores"][:-1]}, NAMES, filter_params())
    with pytest.raises(ValueError, match="not aligned"):
        filter_pool(pool, {"scores": good["scores"], "labels": pool["labels"].flip(0)},
                    NAMES, filter_params())
    sums = pool["images"].reshape(12, -1).sum(1, dtype=torch.int64)
    with pytest.raises(ValueError, match="images differ"):
        filter_pool(pool, {**good, "pixel_sums": sums.flip(0)}, NAMES, filter_params())


def test_grid_shows_each_classs_best_kept_and_worst_dropped_images(make_bundle) -> None:
    """Row per class: the highest-scored kept images (best first), the class's counts, the
    lowest-scored dropped ones (worst first), each titled with its score."""
    pool = make_bundle(per_class=5, num_classes=3, shape=(3, 32, 32))
    scores = torch.randperm(15, generator=torch.Generator().manual_seed(2)).float() / 15
    params = filter_params({"drop_fraction": 0.4})  # per class: 3 kept, 2 dropped
    fig = plot_filter_grid(pool, {"scores": scores, "labels": pool["labels"]}, NAMES, params)
    side = params.grid.images_per_class
    assert len(fig.axes) == 3 * (2 * side + 1)
    keep = select_kept(scores, pool["labels"], 3, 0.4, "per_class")
    for c, name in enumerate(NAMES):
        row = fig.axes[c * (2 * side + 1):(c + 1) * (2 * side + 1)]
        kept = torch.nonzero((pool["labels"] == c) & keep).flatten()
        dropped = torch.nonzero((pool["labels"] == c) & ~keep).flatten()
        best = kept[scores[kept].argsort(descending=True)][:side].tolist()
        worst = dropped[scores[dropped].argsort()][:side].tolist()
        for ax, index in zip(row[:side] + row[side + 1:], best + worst, strict=True):
            assert ax.get_title() == f"{float(scores[index]):.3f}"
            shown = ax.images[0].get_array()
            assert (shown == pool["images"][index].permute(1, 2, 0).numpy()).all()
        assert row[side].texts[0].get_text() == f"{name}\nkept 3\ndropped 2"


# ----------------------------------------------------------------------------- CLIP


def test_scores_deterministic_and_aligned(make_bundle) -> None:
    """Training twice with one seed gives the same model; scoring twice gives equal scores."""
    real = make_bundle(per_class=4, num_classes=3, seed=1)
    pool = make_bundle(per_class=5, num_classes=3, seed=2)
    model_a, log = train_clip(real, NAMES, filtering_params(), 7, "cpu")
    model_b, _ = train_clip(real, NAMES, filtering_params(), 7, "cpu")
    assert all(torch.equal(model_a[k], model_b[k]) for k in model_a)
    assert log["kind"] == "closed_set" and len(log["epoch_loss"]) == 2
    s1 = score_pool(model_a, pool, NAMES, filtering_params(), "cpu")
    s2 = score_pool(model_b, pool, NAMES, filtering_params(), "cpu")
    assert torch.equal(s1["scores"], s2["scores"])
    assert s1["scores"].dtype == torch.float32 and s1["scores"].shape == (15,)
    assert torch.equal(s1["labels"], pool["labels"])
    assert float(s1["scores"].abs().max()) <= 1.0 + 1e-5  # cosine similarities


def test_closed_set_works_for_rgb_32(make_bundle) -> None:
    """A 3×32×32 dataset gets a 32×32 vision tower; scores come back aligned."""
    real = make_bundle(per_class=3, num_classes=3, shape=(3, 32, 32))
    pool = make_bundle(per_class=2, num_classes=3, shape=(3, 32, 32), seed=5)
    model, _ = train_clip(real, NAMES, filtering_params(), 0, "cpu")
    assert model["visual.positional_embedding"].shape[0] == (32 // 4) ** 2 + 1
    assert score_pool(model, pool, NAMES, filtering_params(), "cpu")["scores"].shape == (6,)
    with pytest.raises(ValueError, match="clip_model"):
        score_pool(model, make_bundle(per_class=2, num_classes=3), NAMES,
                   filtering_params(), "cpu")


def _real_images(per_class: int, classes: list[int]) -> dict[str, torch.Tensor]:
    """The first `per_class` Fashion-MNIST training images of each given class."""
    catalog = yaml.safe_load((REPO / "conf" / "base" / "catalog.yml").read_text())
    entry = {k: v for k, v in catalog["raw_train"].items() if k != "type"}
    for key in ("images_filepath", "labels_filepath"):
        entry[key] = str(REPO / entry[key])
    raw = IDXImageDataset(**entry).load()
    idx = [torch.nonzero(raw["labels"] == c).flatten()[:per_class] for c in classes]
    images = torch.cat([raw["images"][i] for i in idx])
    labels = torch.arange(len(classes)).repeat_interleave(per_class)
    return {"images": images.contiguous(), "labels": labels}


def test_closed_set_clip_learns_on_real_images() -> None:
    """A few epochs on real images lower the ClipLoss and rank own captions above chance."""
    real = _real_images(per_class=24, classes=[0, 1, 7, 8])
    names = ["T-shirt/top", "Trouser", "Sneaker", "Bag"]
    p = filtering_params({"clip": {"closed_set": {"train": {
        "epochs": 20, "batch_size": 16, "lr": 3.0e-3, "warmup_steps": 3}}}})
    model, log = train_clip(real, names, p, 0, "cpu")
    assert log["epoch_loss"][-1] < log["epoch_loss"][0] - 0.05
    report = evaluate_clip(model, real, names, log, p, "cpu")
    assert report["chance_top1"] == 0.25 and report["num_test_images"] == 96
    # honest, tolerant margin: well above chance on its own training data
    assert report["zero_shot_top1"] >= 0.45
    assert report["own_above_other_rate"] >= 0.65  # chance: 0.5
    assert report["mean_own_class_similarity"] > report["mean_other_class_similarity"]


def test_pretrained_path_loads_local_checkpoint(tmp_path, make_bundle) -> None:
    """kind: pretrained builds a registered tiny open_clip config and loads a local file."""
    name = "genaug-test-tiny-clip"
    config = {"embed_dim": 16,
              "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 1,
                             "head_width": 16},
              "text_cfg": {"context_length": 12, "vocab_size": 49408, "width": 32, "heads": 2,
                           "layers": 1}}
    config_path = tmp_path / f"{name}.json"
    config_path.write_text(json.dumps(config))
    open_clip.add_model_config(config_path)
    torch.manual_seed(0)
    source = open_clip.create_model(name, pretrained=None)
    checkpoint = tmp_path / "tiny_clip.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(checkpoint))

    p = filtering_params({"clip": {"kind": "pretrained", "pretrained": {
        "model_name": name, "pretrained": str(checkpoint), "model_config": str(config_path)}}})
    real = make_bundle(per_class=2, num_classes=3)
    state, log = train_clip(real, NAMES, p, 0, "cpu")
    assert log["kind"] == "pretrained"
    assert all(torch.equal(state[k], v) for k, v in source.state_dict().items())
    pool = make_bundle(per_class=3, num_classes=3, seed=4)  # 1×28×28, resized to 32 by open_clip
    scores = score_pool(state, pool, NAMES, p, "cpu")
    assert scores["scores"].shape == (9,) and torch.isfinite(scores["scores"]).all()
    # the same scores as open_clip's own model + preprocessing give
    tok = open_clip.get_tokenizer(name)
    text = source.encode_text(tok([f"a photo of a {n}" for n in NAMES]), normalize=True)
    _, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(checkpoint))
    from PIL import Image
    x = torch.stack([preprocess(Image.fromarray(img[0].numpy())) for img in pool["images"]])
    with torch.no_grad():
        img = source.eval().encode_image(x, normalize=True)
        expected = (img * text[pool["labels"]]).sum(1)
    torch.testing.assert_close(scores["scores"], expected, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- pipelines


class KeptMemoryDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so the test can read intermediate outputs."""

    def _release(self) -> None:
        """Keep the data."""


def test_shared_pipeline_and_two_arms(make_bundle, tmp_path: Path) -> None:
    """create_pipeline + two filter arms (the production `arm_pipeline`) in one run."""
    real = make_bundle(per_class=4, num_classes=3, seed=1)
    test = make_bundle(per_class=3, num_classes=3, seed=2)
    pool = make_bundle(per_class=10, num_classes=3, seed=3)
    arms = {"arm_a": 0.1, "arm_b": 0.3}
    template = create_template()
    pipe = create_pipeline() + sum((arm_pipeline(template, arm) for arm in arms), Pipeline([]))
    assert {"filtering.train_clip", "filtering.score_pool", "filtering.evaluate_clip",
            "arm_a.filter_pool", "arm_b.plot_filter_grid"} <= {n.name for n in pipe.nodes}
    data = {"real_train": real, "real_test": test, "synthetic_pool": pool,
            "class_names": NAMES, "params:filtering": filtering_params(),
            "params:seed": 3, "params:device": "cpu",
            **{f"params:{arm}.filter": filter_params({"drop_fraction": f})
               for arm, f in arms.items()}}
    catalog = DataCatalog({k: MemoryDataset(v) for k, v in data.items()})
    outputs = {"clip_model", "synthetic_scores", "clip_report",
               *(f"{arm}.{n}" for arm in arms for n in
                 ("synthetic_kept", "filter_summary", "filter_grid"))}
    for name in outputs:
        catalog[name] = KeptMemoryDataset()
    catalog["clip_checkpoint"] = CheckpointDataset(str(tmp_path / "clip_checkpoint"))
    SequentialRunner().run(pipe, catalog)
    assert not list((tmp_path / "clip_checkpoint").iterdir())  # confirmed: deleted once saved
    assert catalog.load("synthetic_scores")["scores"].shape == (30,)
    assert 0.0 <= catalog.load("clip_report")["zero_shot_top1"] <= 1.0
    kept_a, kept_b = catalog.load("arm_a.synthetic_kept"), catalog.load("arm_b.synthetic_kept")
    assert kept_a["labels"].bincount().tolist() == [9, 9, 9]   # 10 - floor(10 * 0.1)
    assert kept_b["labels"].bincount().tolist() == [7, 7, 7]   # 10 - floor(10 * 0.3)
    assert catalog.load("arm_a.filter_summary")["drop_fraction"] == 0.1
    assert catalog.load("arm_b.filter_summary")["drop_fraction"] == 0.3
    assert isinstance(catalog.load("arm_b.filter_grid"), Figure)


def test_catalog_entries_save_and_load(kedro_project, make_bundle) -> None:
    """The project's catalog stores every filtering output (factories resolve per arm)."""
    pool = make_bundle(per_class=6, num_classes=3)
    real = make_bundle(per_class=3, num_classes=3, seed=1)
    model, log = train_clip(real, NAMES, filtering_params(), 0, "cpu")
    scores = score_pool(model, pool, NAMES, filtering_params(), "cpu")
    kept, summary = filter_pool(pool, scores, NAMES, filter_params({"drop_fraction": 0.5}))
    grid = plot_filter_grid(pool, scores, NAMES, filter_params({"drop_fraction": 0.5}))
    catalog = kedro_project.catalog()
    outputs = {"clip_model": model, "clip_training_log": log, "synthetic_scores": scores,
               "arm_x.synthetic_kept": kept, "arm_x.filter_summary": summary,
               "arm_x.filter_grid": grid}
    for name, value in outputs.items():
        catalog.save(name, value)
    loaded = kedro_project.catalog()
    assert set(loaded.load("clip_model")) == set(model)
    assert torch.equal(loaded.load("synthetic_scores")["scores"], scores["scores"])
    assert torch.equal(loaded.load("arm_x.synthetic_kept")["labels"], kept["labels"])
    assert loaded.load("arm_x.filter_summary")["kept"] == 9
    assert list((kedro_project.data / "08_reporting" / "arm_x" / "filter_grid.png")
                .glob("*/filter_grid.png"))
