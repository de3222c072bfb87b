"""The pool made in parts: each part stages its shards, the pool node publishes, bits unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.io.core import DatasetError, Version
from kedro.runner import SequentialRunner

from genaug.datasets.sharded_bundle import (
    LazyShards,
    PartReceipt,
    ShardedBundleDataset,
    ShardedBundlePart,
)
from genaug.pipelines.synthesis import create_pipeline
from genaug.pipelines.synthesis import nodes as N
from genaug.pipelines.synthesis.pipeline import POOL_PART_OUTPUTS, POOL_PARTS
from tests.support import SYNTHESIS_CLASSES as NAMES
from tests.support import synthesis_params

# 12 images in 6 shards of 2: with 4 parts, parts 0 and 1 make two shards, parts 2 and 3 one.
PARAMS = synthesis_params(**{"pool.per_class": 3, "pool.shard_size": 2})
PARTS = 4


class _Killed(BaseException):
    """Stands in for the worker process dying mid-part (not an Exception, like SIGKILL)."""


@pytest.fixture(scope="module")
def reference(tmp_path_factory, real_train, generator) -> dict[str, torch.Tensor]:
    """The pool saved in one piece, as before pool parts existed."""
    ds = _pool(tmp_path_factory.mktemp("reference"))
    ds.save(N.generate_synthetic_pool(generator, real_train, NAMES, PARAMS, 7, "cpu"))
    return ds.load()


def _pool(root: Path) -> ShardedBundleDataset:
    return ShardedBundleDataset(filepath=str(root / "pool"), version=Version(None, None))


def _part(root: Path, index: int) -> ShardedBundlePart:
    return ShardedBundlePart(filepath=str(root / "pool"), part=index)


def _counted(pool: LazyShards, made: list[int], kill_at: int | None = None) -> LazyShards:
    """The same generation, recording which shards are made (and dying at shard `kill_at`)."""
    def wrap(index, make):
        def run():
            if index == kill_at:
                raise _Killed
            made.append(index)
            return make()
        return run
    return LazyShards(pool.fingerprint, tuple(wrap(i, m) for i, m in
                                              zip(pool.shard_indices, pool.makers, strict=True)),
                      pool.indices)


def test_parts_split_a_generation_into_interleaved_shares() -> None:
    whole = LazyShards("gen", tuple(lambda: {} for _ in range(5)))
    shares = [whole.part(index, 3) for index in range(3)]
    assert [part.shard_indices for part in shares] == [(0, 3), (1, 4), (2,)]
    assert whole.part(2, 8).shard_indices == (2,) and whole.part(6, 8).num_shards == 0
    with pytest.raises(ValueError, match="whole generation"):
        shares[0].part(0, 2)
    with pytest.raises(ValueError, match="does not exist"):
        whole.part(3, 3)


def test_a_part_cannot_be_published_as_the_bundle(tmp_path: Path) -> None:
    whole = LazyShards("gen", tuple(lambda: {} for _ in range(4)))
    with pytest.raises(DatasetError, match="only a whole one is published"):
        _pool(tmp_path).save(whole.part(1, 2))


def test_parts_then_pool_give_the_one_piece_pool_bit_for_bit(
        tmp_path: Path, real_train, generator, reference) -> None:
    """Parts make every shard; publishing makes none; the pool and manifest are unchanged."""
    made: list[int] = []
    receipts = []
    for index in range(PARTS):
        part = N.PoolPart(index, PARTS).generate(generator, real_train, NAMES, PARAMS, 7, "cpu")
        _part(tmp_path, index).save(_counted(part, made))
        receipts.append(_part(tmp_path, index).load())
    assert sorted(made) == list(range(6))
    assert receipts[0] == PartReceipt(receipts[0].fingerprint, (0, 4))
    assert all(_part(tmp_path, index).exists() for index in range(PARTS))

    published: list[int] = []
    pool = N.generate_synthetic_pool(generator, real_train, NAMES, PARAMS, 7, "cpu", *receipts)
    assert pool.fingerprint == receipts[0].fingerprint
    ds = _pool(tmp_path)
    ds.save(_counted(pool, published))
    assert published == []  # every shard was staged by a part
    loaded = ds.load()
    assert torch.equal(loaded["images"], reference["images"])
    assert torch.equal(loaded["labels"], reference["labels"])
    assert ds.manifest()["shard_sizes"] == [2] * 6
    assert not (tmp_path / "pool.staging").exists()


def test_a_lost_part_costs_only_its_unstaged_shards(
        tmp_path: Path, real_train, generator, reference) -> None:
    """Part 1 dies after its first shard: no receipt; publishing makes only its second one."""
    made: list[int] = []
    for index in range(PARTS):
        part = N.PoolPart(index, PARTS).generate(generator, real_train, NAMES, PARAMS, 7, "cpu")
        if index == 1:
            with pytest.raises(_Killed):
                _part(tmp_path, index).save(_counted(part, made, kill_at=5))
        else:
            _part(tmp_path, index).save(_counted(part, made))
    assert not _part(tmp_path, 1).exists()
    assert sorted(made) == [0, 1, 2, 3, 4]

    redone: list[int] = []
    ds = _pool(tmp_path)
    ds.save(_counted(N.generate_synthetic_pool(generator, real_train, NAMES, PARAMS, 7, "cpu"),
                     redone))
    assert redone == [5]
    assert torch.equal(ds.load()["images"], reference["images"])


def _catalog(root: Path, real_train, parts_declared: bool) -> DataCatalog:
    datasets = {"real_train": MemoryDataset(real_train), "class_names": MemoryDataset(NAMES),
                "params:synthesis": MemoryDataset(PARAMS), "params:seed": MemoryDataset(7),
                "params:device": MemoryDataset("cpu"), "synthetic_pool": _pool(root)}
    if parts_declared:
        datasets.update({name: _part(root, index)
                         for index, name in enumerate(POOL_PART_OUTPUTS)})
    return DataCatalog(datasets=datasets)


@pytest.mark.parametrize("parts_declared", [True, False])
def test_sequential_pipeline_gives_the_same_pool(tmp_path: Path, real_train, generator,
                                                 reference, parts_declared: bool) -> None:
    """With part datasets declared, or left in memory (the pool node then makes every shard)."""
    pipeline = create_pipeline().from_inputs("generator").to_outputs("synthetic_pool")
    assert len(pipeline.nodes) == POOL_PARTS + 1
    catalog = _catalog(tmp_path, real_train, parts_declared)
    catalog["generator"] = MemoryDataset(generator)
    SequentialRunner().run(pipeline, catalog)
    assert torch.equal(_pool(tmp_path).load()["images"], reference["images"])
    receipts = list((tmp_path / "pool.parts").glob("part_*.json"))
    assert len(receipts) == (POOL_PARTS if parts_declared else 0)


def test_pipeline_fans_the_pool_out_and_tags_gpu_nodes() -> None:
    nodes = {node.name: node for node in create_pipeline().nodes}
    parts = [f"synthesis.generate_pool_part_{index}" for index in range(POOL_PARTS)]
    assert set(parts) <= set(nodes)
    assert set(POOL_PART_OUTPUTS) <= set(nodes["synthesis.generate_synthetic_pool"].inputs)
    for name in (*parts, "synthesis.train_generator", "synthesis.generate_synthetic_pool"):
        assert "gpu" in nodes[name].tags, name
    assert "gpu" not in nodes["synthesis.plot_generator_samples"].tags
    # The rerun fingerprints read the keys a part declares, like the pool node's.
    assert nodes[parts[0]].func.depends_on == N.generate_synthetic_pool.depends_on
