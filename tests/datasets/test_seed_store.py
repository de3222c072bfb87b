"""The seed store: entries saved once, loaded back exactly, never overwritten."""

from __future__ import annotations

import torch

from genaug.datasets.seed_store import SeedStoreDataset


def test_entries_round_trip_and_are_never_overwritten(tmp_path) -> None:
    store = SeedStoreDataset(str(tmp_path / "store"))
    assert len(store.load()) == 0 and store.exists()  # an empty store is a valid store
    weights = {"conv.weight": torch.randn(4, 1, 3, 3), "bn.num_batches_tracked": torch.tensor(7)}
    store.save({"abc": (weights, {"seconds": 1.5, "phases": [{"name": "train"}]})})
    state, run = store.load()["abc"]
    assert state.keys() == weights.keys()
    assert all(torch.equal(state[k], weights[k]) for k in weights)
    assert run == {"seconds": 1.5, "phases": [{"name": "train"}]}
    store.save({"abc": ({"conv.weight": torch.zeros(1)}, {"seconds": 9.0})})  # same key again
    assert torch.equal(store.load()["abc"][0]["conv.weight"], weights["conv.weight"])
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["abc.safetensors"]


def test_without_reuse_reads_empty_but_still_writes(tmp_path) -> None:
    store = SeedStoreDataset(str(tmp_path / "store"))
    store.save({"a": ({"w": torch.ones(2)}, {})})
    fresh = store.without_reuse()
    assert len(fresh.load()) == 0
    fresh.save({"b": ({"w": torch.ones(2)}, {})})
    assert sorted(store.load()) == ["a", "b"]
