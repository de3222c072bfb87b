"""ShardedBundleDataset through Kedro's public save path: one save, one complete version."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from kedro.io import DataCatalog
from kedro.io.core import DatasetError, Version

from genaug.datasets.sharded_bundle import LazyShards, ShardedBundleDataset

TYPE = "genaug.datasets.sharded_bundle.ShardedBundleDataset"


def _shard(value: int, n: int) -> dict[str, torch.Tensor]:
    return {"images": torch.full((n, 1, 4, 4), value, dtype=torch.uint8),
            "labels": torch.arange(n) % 2}


def _pool(fingerprint: str, sizes: list[int], computed: list[int]) -> LazyShards:
    def maker(index: int, n: int):
        def make() -> dict[str, torch.Tensor]:
            computed.append(index)
            return _shard(index, n)
        return make
    return LazyShards(fingerprint, tuple(maker(i, n) for i, n in enumerate(sizes)))


def _catalog(root: Path) -> DataCatalog:
    return DataCatalog.from_config({"pool": {"type": TYPE, "filepath": str(root / "pool"),
                                             "versioned": True}})


def test_catalog_save_of_a_first_and_second_generation_publishes_one_version_each(tmp_path):
    """Kedro's versioned save (no previous version, then one) accepts the pool without warning.

    The versioned save wrapper resolves the latest load version right after a save and fails
    when there is none: one save per complete pool is what lets it run unmodified.
    """
    computed: list[int] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. Kedro's save/load version consistency warning
        _catalog(tmp_path).save("pool", _pool("gen-a", [3, 3, 2], computed))
        first = _catalog(tmp_path).load("pool")
        _catalog(tmp_path).save("pool", _pool("gen-b", [2], computed))
        second = _catalog(tmp_path).load("pool")
    assert computed == [0, 1, 2, 0]
    assert first["images"][:, 0, 0, 0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert second["images"].shape == (2, 1, 4, 4)
    assert len(list((tmp_path / "pool").iterdir())) == 2
    assert not (tmp_path / "pool.staging").exists()


def test_interrupted_save_publishes_nothing_and_the_rerun_reuses_staged_shards(tmp_path):
    """A kill after two shards leaves them staged only; the same fingerprint reuses them."""
    computed: list[int] = []

    class Killed(BaseException):
        pass

    def killed() -> dict[str, torch.Tensor]:
        raise Killed

    pool = _pool("gen-a", [3, 3, 2], computed)
    with pytest.raises(Killed):
        _catalog(tmp_path).save("pool", LazyShards("gen-a", (*pool.makers[:2], killed)))
    assert not _catalog(tmp_path).exists("pool")
    assert sorted(p.name for p in (tmp_path / "pool.staging" / "gen-a").iterdir()) == [
        "shard_00000.safetensors", "shard_00001.safetensors"]

    computed.clear()
    _catalog(tmp_path).save("pool", pool)
    assert computed == [2]
    latest = ShardedBundleDataset(filepath=str(tmp_path / "pool"), version=Version(None, None))
    assert latest.manifest()["fingerprint"] == "gen-a"
    loaded = _catalog(tmp_path).load("pool")
    assert loaded["images"][:, 0, 0, 0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2]


def test_plain_bundle_and_bad_inputs(tmp_path):
    """A bundle dict saves as one shard; anything else, or an empty generation, is refused."""
    ds = ShardedBundleDataset(filepath=str(tmp_path / "pool"))
    ds.save(_shard(5, 3))
    assert ds.manifest()["shard_sizes"] == [3]
    assert torch.equal(ds.load()["images"], _shard(5, 3)["images"])
    with pytest.raises(DatasetError, match="LazyShards or a bundle dict"):
        ds.save([1, 2, 3])
    with pytest.raises(DatasetError, match="no shards"):
        ds.save(LazyShards("empty", ()))
    with pytest.raises(DatasetError, match="uint8 images"):
        ds.save({"images": torch.zeros(2, 1, 4, 4), "labels": torch.arange(2)})
