"""ImageFolderDataset: one sub-folder per class, resized; a non-image file is a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import DatasetError
from PIL import Image

from genaug.datasets import ImageFolderDataset


def _folder(root: Path) -> Path:
    for name, value in (("cat", 30), ("dog", 200)):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((40, 50, 3), value + i, dtype=np.uint8)).save(
                root / name / f"{i}.png")
    return root


def test_loads_classes_from_sorted_folders(tmp_path: Path) -> None:
    data = ImageFolderDataset(path=str(_folder(tmp_path / "imgs")), image_size=16,
                              channels=3).load()
    assert data["class_names"] == ["cat", "dog"]
    assert data["images"].shape == (6, 3, 16, 16)
    assert data["labels"].tolist() == [0, 0, 0, 1, 1, 1]


def test_grayscale_conversion(tmp_path: Path) -> None:
    data = ImageFolderDataset(path=str(_folder(tmp_path / "imgs")), image_size=8,
                              channels=1).load()
    assert data["images"].shape == (6, 1, 8, 8)


def test_non_image_file_is_named(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    (root / "dog" / "notes.txt").write_text("not an image")
    with pytest.raises(DatasetError, match=r"notes.txt' is not an image file"):
        ImageFolderDataset(path=str(root), image_size=8).load()


def test_corrupt_image_is_named(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DatasetError, match=r"broken.png' is not a readable image"):
        ImageFolderDataset(path=str(root), image_size=8).load()
