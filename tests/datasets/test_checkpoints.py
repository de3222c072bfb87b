"""Training checkpoints in the catalog: by key, atomic, the newest kept, cleaned up on confirm."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from kedro.io import DatasetError

from genaug.datasets.checkpoints import CheckpointDataset, CheckpointFolder

KEY, OTHER = "a" * 64, "b" * 64


def _save(folder: CheckpointFolder, key: str, step: int, final: bool = False) -> None:
    folder.training(key).save({"w": torch.full((2,), float(step))}, {"step": step},
                              step=step, final=final)


def _files(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir())


def test_latest_of_the_key_round_trips_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    dataset = CheckpointDataset(str(tmp_path / "ckpt"), keep=2)
    assert dataset.exists()  # an empty folder is a valid cache
    folder = dataset.load()
    assert folder.training(KEY).latest() is None
    for step in (2, 4, 6):
        _save(folder, KEY, step)
    tensors, tree = folder.training(KEY).latest()
    assert torch.equal(tensors["w"], torch.full((2,), 6.0)) and tree == {"step": 6}
    assert _files(tmp_path / "ckpt") == [f"{KEY}-{s:09d}.safetensors" for s in (4, 6)]


def test_checkpoints_of_another_key_are_ignored_and_logged(tmp_path: Path, caplog) -> None:
    folder = CheckpointDataset(str(tmp_path)).load()
    _save(folder, OTHER, 8)
    with caplog.at_level(logging.INFO, logger="genaug.datasets.checkpoints"):
        assert folder.training(KEY).latest() is None
    assert "ignoring the checkpoints of 1 other training(s)" in caplog.text


def test_a_corrupt_or_mislabelled_newest_checkpoint_falls_back_to_the_previous(
        tmp_path: Path, caplog) -> None:
    folder = CheckpointDataset(str(tmp_path), keep=3).load()
    _save(folder, KEY, 2)
    _save(folder, KEY, 4)
    (tmp_path / f"{KEY}-000000004.safetensors").write_bytes(b"not a safetensors file")
    # A file named for KEY that holds another key's state is never loaded.
    _save(folder, OTHER, 2)
    (tmp_path / f"{OTHER}-000000002.safetensors").rename(tmp_path / f"{KEY}-000000009.safetensors")
    with caplog.at_level(logging.WARNING, logger="genaug.datasets.checkpoints"):
        _, tree = folder.training(KEY).latest()
    assert tree == {"step": 2}
    assert "it holds key" in caplog.text and "000000004" in caplog.text


def test_a_write_leaves_no_temporary_file_and_a_failed_one_no_checkpoint(tmp_path: Path) -> None:
    folder = CheckpointDataset(str(tmp_path)).load()
    _save(folder, KEY, 2)
    with pytest.raises(RuntimeError):  # safetensors refuses tensors that share memory
        shared = torch.zeros(4)
        folder.training(KEY).save({"a": shared, "b": shared}, {}, step=4, final=False)
    assert _files(tmp_path) == [f"{KEY}-000000002.safetensors"]


def test_confirm_deletes_the_trainings_that_finished_only(tmp_path: Path) -> None:
    dataset = CheckpointDataset(str(tmp_path))
    folder = dataset.load()
    _save(folder, KEY, 2)
    _save(folder, KEY, 4, final=True)
    _save(folder, OTHER, 2)  # an unfinished training with other settings: kept
    dataset.confirm()
    assert _files(tmp_path) == [f"{OTHER}-000000002.safetensors"]
    CheckpointDataset(str(tmp_path / "never_written")).confirm()  # nothing to clean: no error


def test_the_dataset_is_not_an_output_and_keeps_at_least_one(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="written by the training node"):
        CheckpointDataset(str(tmp_path)).save({"w": torch.ones(1)})
    with pytest.raises(ValueError, match="keep must be at least 1"):
        CheckpointDataset(str(tmp_path), keep=0)
