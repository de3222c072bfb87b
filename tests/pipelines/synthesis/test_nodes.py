"""Synthesis nodes: pool shape/balance, bit-identical resume, pretrained path, a generator of
another kind refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from kedro.io.core import DatasetError, Version

from genaug.common.validation import ParameterError
from genaug.datasets.sharded_bundle import LazyShards, ShardedBundleDataset
from genaug.models import diffusion as D
from genaug.models import diffusion_pretrained as P
from genaug.models.diffusion_sampling import pool_fingerprint
from genaug.pipelines.synthesis import nodes as N
from tests.support import SYNTHESIS_CLASSES as NAMES
from tests.support import synthesis_params


def _dataset(root: Path) -> ShardedBundleDataset:
    return ShardedBundleDataset(filepath=str(root / "pool"), version=Version(None, None))


class _Killed(BaseException):
    """Stands in for the process being killed mid-save (not an Exception, like SIGKILL)."""


def _save_all(ds: ShardedBundleDataset, pool: LazyShards,
              stop_after: int | None = None) -> list[int]:
    """Save the pool like Kedro does; return the indices computed (killed before `stop_after`)."""
    computed: list[int] = []

    def counted(index, make):
        def run():
            if index == stop_after:
                raise _Killed
            computed.append(index)
            return make()
        return run

    lazy = LazyShards(pool.fingerprint,
                      tuple(counted(i, make) for i, make in enumerate(pool.makers)))
    if stop_after is None:
        ds.save(lazy)
    else:
        with pytest.raises(_Killed):
            ds.save(lazy)
    return computed


def test_generator_is_self_describing(generator):
    """The stored generator rebuilds from its own tensors (weights + JSON description)."""
    unet, meta = D.unpack_unet(generator)
    assert meta["class_names"] == NAMES and meta["image_shape"] == [1, 28, 28]
    assert meta["sample_size"] == 28 and unet.config.num_class_embeds == len(NAMES) + 1
    assert generator[D.LOSS_KEY].shape == (3,)


def test_pool_shape_dtype_labels_balance(tmp_path, real_train, generator):
    """The pool is multiple_of_real × real_train, class-balanced, written in shards."""
    ds = _dataset(tmp_path)
    shards = N.generate_synthetic_pool(generator, real_train, NAMES, synthesis_params(), 7, "cpu")
    assert shards.num_shards == 5  # 32 images in shards of 7
    assert _save_all(ds, shards) == [0, 1, 2, 3, 4]
    pool = ds.load()
    assert pool["images"].shape == (32, 1, 28, 28) and pool["images"].dtype == torch.uint8
    assert pool["labels"].dtype == torch.int64
    assert torch.bincount(pool["labels"], minlength=4).tolist() == [8] * 4
    assert ds.manifest()["shard_sizes"] == [7] * 4 + [4]
    assert sum(s["labels"].numel() for s in ds.iter_shards()) == 32
    assert pool["images"].float().std() > 1  # not a constant image
    fig = N.plot_generator_samples(pool, real_train, NAMES, synthesis_params())
    assert len(fig.axes) == 4 * 4


def test_resumed_generation_is_bit_identical(tmp_path, real_train, generator):
    """Interrupt after k shards: no valid version; a rerun reuses them and equals a clean run."""
    params = synthesis_params(**{"pool.per_class": 3, "pool.shard_size": 3})  # 12 images, 4 shards
    clean = _dataset(tmp_path / "clean")
    _save_all(clean, N.generate_synthetic_pool(generator, real_train, NAMES, params, 7, "cpu"))

    ds = _dataset(tmp_path / "resumed")
    first = _save_all(ds, N.generate_synthetic_pool(generator, real_train, NAMES, params, 7,
                                                    "cpu"), stop_after=2)
    assert first == [0, 1]
    assert not ds.exists()
    with pytest.raises(DatasetError):
        ds.load()
    ds2 = _dataset(tmp_path / "resumed")  # a new run (session)
    second = _save_all(ds2, N.generate_synthetic_pool(generator, real_train, NAMES, params, 7,
                                                      "cpu"))
    assert second == [2, 3]  # staged shards were reused, not recomputed
    a, b = clean.load(), ds2.load()
    assert torch.equal(a["images"], b["images"]) and torch.equal(a["labels"], b["labels"])
    assert not (tmp_path / "resumed" / "pool.staging").exists()

    # Other sampling parameters => another fingerprint => nothing reused.
    other = synthesis_params(**{"pool.per_class": 3, "pool.shard_size": 3, "sampling.steps": 1})
    ds3 = _dataset(tmp_path / "resumed")
    assert _save_all(ds3, N.generate_synthetic_pool(generator, real_train, NAMES, other, 7,
                                                    "cpu")) == [0, 1, 2, 3]


def test_version_without_manifest_is_not_loaded(tmp_path):
    """A version folder lacking its completion marker is refused."""
    ds = _dataset(tmp_path)
    bundle = {"images": torch.zeros(2, 1, 4, 4, dtype=torch.uint8),
              "labels": torch.tensor([0, 1])}
    ds.save(bundle)
    loaded = _dataset(tmp_path).load()
    assert torch.equal(loaded["images"], bundle["images"])
    version_dir = next((tmp_path / "pool").iterdir()) / "pool"
    (version_dir / "manifest.json").unlink()
    with pytest.raises(DatasetError, match="manifest"):
        _dataset(tmp_path).load()


def test_pool_rejects_generator_of_other_kind(real_train, generator, tmp_path):
    """Sampling a closed-set generator with kind=pretrained fails naming the parameter."""
    (tmp_path / "model_index.json").write_text("{}")
    params = synthesis_params(**{"generator.kind": "pretrained", "pretrained.path": str(tmp_path)})
    with pytest.raises(ParameterError, match=r"synthesis\.generator\.kind"):
        N.generate_synthetic_pool(generator, real_train, NAMES, params, 7, "cpu")


class _FakeTextToImage:
    """Stands in for a diffusers text-to-image pipeline: RGB 48×48 outputs in [0, 1]."""

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.calls: list[dict] = []  # each call's prompt count and keyword arguments
        self.components = {"denoiser": torch.nn.Linear(2, 2)}

    def __call__(self, prompt, num_inference_steps, guidance_scale, generator, output_type,
                 **kwargs):
        self.prompts.extend(prompt)
        self.calls.append({"prompts": len(prompt), **kwargs})
        images = torch.stack([torch.rand(3, 48, 48, generator=g) for g in generator])
        return type("Out", (), {"images": images})()


def test_pretrained_path_with_stub_pipeline(tmp_path, real_train, monkeypatch):
    """Pretrained mode prompts per class in batches of pretrained.batch_size (not
    sampling.batch_size), at pretrained.resolution, and converts to the dataset's shape."""
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "Fake"}))
    fake = _FakeTextToImage()
    loads = []
    monkeypatch.setattr(P, "load_pretrained_pipeline",
                        lambda *a, **k: loads.append(a) or fake)
    params = synthesis_params(**{"generator.kind": "pretrained", "pretrained.path": str(tmp_path),
                                 "pool.per_class": 2, "pretrained.resolution": 64})
    ref = N.train_generator(real_train, NAMES, params, 7, "cpu")
    meta = D.decode_meta(ref)
    assert (meta["kind"], meta["dtype"], meta["source"]) == ("pretrained", "float32",
                                                             str(tmp_path))
    ds = _dataset(tmp_path / "out")
    _save_all(ds, N.generate_synthetic_pool(ref, real_train, NAMES, params, 7, "cpu"))
    pool = ds.load()
    assert pool["images"].shape == (8, 1, 28, 28) and pool["images"].dtype == torch.uint8
    assert fake.prompts[:4] == [f"a photo of a {c}" for c in NAMES]
    # Shards of 7 and 1 images (pool.shard_size 7), 3 prompts per call: 3 + 3 + 1, then 1.
    assert [call["prompts"] for call in fake.calls] == [3, 3, 1, 1]
    assert {(call["height"], call["width"]) for call in fake.calls} == {(64, 64)}
    assert len(loads) == 1 and loads[0][3] == torch.float32  # auto on CPU


def test_pool_identity_follows_the_batch_each_kind_uses(tmp_path, generator):
    """A pretrained pool's identity follows pretrained.batch_size, not sampling.batch_size;
    the closed set's follows sampling.batch_size as before."""
    (tmp_path / "model_index.json").write_text("{}")

    def fingerprint(**changes) -> str:
        return pool_fingerprint(generator, synthesis_params(**changes), 7, NAMES, (1, 28, 28), 2)

    pretrained = {"generator.kind": "pretrained", "pretrained.path": str(tmp_path)}
    assert fingerprint(**pretrained) == fingerprint(**pretrained, **{"sampling.batch_size": 9})
    assert fingerprint(**pretrained) != fingerprint(**pretrained, **{"pretrained.batch_size": 9})
    assert fingerprint() != fingerprint(**{"sampling.batch_size": 9})
    assert fingerprint() == fingerprint(**{"pretrained.batch_size": 9})
