"""IDXImageDataset: reads the shipped Fashion-MNIST files and rejects missing or corrupt ones."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import torch
from kedro.io.core import DatasetError

from genaug.datasets import IDXImageDataset
from tests.support import REPO

RAW = REPO / "data" / "01_raw" / "fashion-mnist"
SHA = {
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


def _dataset(images: Path, labels: Path, check: bool = True) -> IDXImageDataset:
    return IDXImageDataset(
        images_filepath=str(images), labels_filepath=str(labels),
        images_sha256=SHA["t10k-images-idx3-ubyte.gz"] if check else None,
        labels_sha256=SHA["t10k-labels-idx1-ubyte.gz"] if check else None,
    )


def test_loads_verified_test_split() -> None:
    data = _dataset(RAW / "t10k-images-idx3-ubyte.gz", RAW / "t10k-labels-idx1-ubyte.gz").load()
    assert data["images"].shape == (10000, 1, 28, 28)
    assert data["images"].dtype == torch.uint8
    assert data["labels"].dtype == torch.int64
    assert torch.bincount(data["labels"]).tolist() == [1000] * 10


def test_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope-images.gz"
    with pytest.raises(DatasetError, match="nope-images.gz' is missing"):
        _dataset(missing, RAW / "t10k-labels-idx1-ubyte.gz").load()


def test_checksum_mismatch_names_file(tmp_path: Path) -> None:
    raw = bytearray(gzip.decompress((RAW / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[100] ^= 0xFF
    corrupt = tmp_path / "t10k-labels-idx1-ubyte.gz"
    corrupt.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.gz' is corrupt.*SHA-256"):
        _dataset(RAW / "t10k-images-idx3-ubyte.gz", corrupt).load()


def test_truncated_gzip_is_reported(tmp_path: Path) -> None:
    truncated = tmp_path / "t10k-images-idx3-ubyte.gz"
    truncated.write_bytes((RAW / "t10k-images-idx3-ubyte.gz").read_bytes()[:5000])
    with pytest.raises(DatasetError, match="corrupt"):
        _dataset(truncated, RAW / "t10k-labels-idx1-ubyte.gz").load()


def test_truncated_body_without_checksum_is_reported(tmp_path: Path) -> None:
    raw = gzip.decompress((RAW / "t10k-labels-idx1-ubyte.gz").read_bytes())
    short = tmp_path / "labels.gz"
    short.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(DatasetError, match="truncated"):
        _dataset(RAW / "t10k-images-idx3-ubyte.gz", short, check=False).load()


def test_swapped_files_fail_on_magic(tmp_path: Path) -> None:
    labels = tmp_path / "labels.gz"
    shutil.copy(RAW / "t10k-images-idx3-ubyte.gz", labels)
    with pytest.raises(DatasetError, match="magic"):
        _dataset(RAW / "t10k-images-idx3-ubyte.gz", labels, check=False).load()


def test_is_read_only() -> None:
    ds = _dataset(RAW / "t10k-images-idx3-ubyte.gz", RAW / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DatasetError, match="read-only"):
        ds.save({"images": torch.zeros(1)})
