"""TorchvisionImageDataset: `exists()` tells whether torchvision's files are there to load;
CIFAR is refused (torchvision unpickles it)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch
from kedro.io.core import DatasetError

from genaug.datasets import TorchvisionImageDataset


def _write_idx(path: Path, data: torch.Tensor) -> None:
    """An uncompressed IDX file of unsigned bytes (the format torchvision reads for MNIST)."""
    header = struct.pack(">I", 0x0800 | data.ndim) + struct.pack(f">{data.ndim}I", *data.shape)
    path.write_bytes(header + data.to(torch.uint8).numpy().tobytes())


def _fake_fashion_mnist(root: Path, splits: tuple[str, ...] = ("train", "t10k")) -> None:
    """A few labelled 28×28 images per split, laid out as torchvision expects them."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for n, split in enumerate(splits, start=3):
        images = torch.arange(n * 28 * 28).reshape(n, 28, 28) % 256
        _write_idx(raw / f"{split}-images-idx3-ubyte", images)
        _write_idx(raw / f"{split}-labels-idx1-ubyte", torch.arange(n) % 10)


def test_missing_root_does_not_exist_and_load_says_download(tmp_path: Path) -> None:
    dataset = TorchvisionImageDataset(name="FashionMNIST", root=str(tmp_path / "none"))
    assert not dataset.exists()
    with pytest.raises(DatasetError, match="download: true"):
        dataset.load()


def test_exists_exactly_when_torchvision_can_load(tmp_path: Path) -> None:
    _fake_fashion_mnist(tmp_path, splits=("t10k",))
    dataset = TorchvisionImageDataset(name="FashionMNIST", root=str(tmp_path), train=False)
    # torchvision refuses to load one split while the other one's files are missing.
    assert not dataset.exists()
    with pytest.raises(DatasetError):
        dataset.load()
    _fake_fashion_mnist(tmp_path / "both")
    dataset = TorchvisionImageDataset(name="FashionMNIST", root=str(tmp_path / "both"),
                                      train=False)
    assert dataset.exists()
    data = dataset.load()
    assert data["images"].shape == (4, 1, 28, 28) and data["labels"].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("name", ["CIFAR10", "CIFAR100"])
def test_cifar_is_refused_and_points_to_cifar_dataset(name: str) -> None:
    # torchvision pickle.loads CIFAR's batches; CIFARDataset reads them without running code.
    with pytest.raises(DatasetError, match=f"Use genaug.datasets.CIFARDataset \\(name: {name}"):
        TorchvisionImageDataset(name=name, root="data/01_raw/torchvision")
