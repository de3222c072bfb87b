"""Read-only Kedro dataset for a user's image folder: one sub-folder per class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from kedro.io.core import AbstractDataset, DatasetError
from PIL import Image, UnidentifiedImageError

_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class ImageFolderDataset(AbstractDataset[None, dict[str, Any]]):
    """Loads `<path>/<class name>/<image>` files as a bundle resized to `image_size`.

    Class ids follow the sorted sub-folder names, which are returned as `class_names`.

    ```yaml
    raw_train:
      type: genaug.datasets.ImageFolderDataset
      path: data/01_raw/my_images/train
      image_size: 32
      channels: 3
    ```
    """

    def __init__(self, *, path: str, image_size: int, channels: int = 3,
                 extensions: list[str] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        """Point the dataset at a folder of class sub-folders."""
        if channels not in (1, 3):
            raise DatasetError(
                f"ImageFolderDataset '{path}': channels must be 1 or 3, got {channels}."
            )
        self._path = Path(path)
        self._size = int(image_size)
        self._channels = channels
        self._extensions = tuple(e.lower() for e in (extensions or _EXTENSIONS))
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        """Read every image, failing on the first file that is not a readable image."""
        if not self._path.is_dir():
            raise DatasetError(f"Image folder '{self._path}' does not exist.")
        class_dirs = sorted(p for p in self._path.iterdir() if p.is_dir())
        if not class_dirs:
            raise DatasetError(f"Image folder '{self._path}' has no class sub-folders.")
        images, labels = [], []
        for label, folder in enumerate(class_dirs):
            for file in sorted(p for p in folder.iterdir() if p.is_file()):
                if file.name.startswith("."):
                    continue
                if file.suffix.lower() not in self._extensions:
                    raise DatasetError(
                        f"'{file}' is not an image file (expected one of {self._extensions})."
                    )
                images.append(self._read(file))
                labels.append(label)
        if not images:
            raise DatasetError(f"Image folder '{self._path}' holds no images.")
        return {
            "images": torch.from_numpy(np.stack(images)),
            "labels": torch.tensor(labels, dtype=torch.int64),
            "class_names": [p.name for p in class_dirs],
            "source": str(self._path),
        }

    def _read(self, file: Path) -> np.ndarray:
        """Decode, convert and resize one image to a C×H×W uint8 array."""
        try:
            with Image.open(file) as img:
                img = img.convert("L" if self._channels == 1 else "RGB")
                img = img.resize((self._size, self._size), Image.Resampling.BICUBIC)
                array = np.asarray(img, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as exc:
            raise DatasetError(f"'{file}' is not a readable image: {exc}") from exc
        return array[None] if array.ndim == 2 else array.transpose(2, 0, 1).copy()

    def image_shape(self) -> tuple[int, int, int]:
        """The (C, H, W) every loaded image has (a cheap check before a run)."""
        if not self._path.is_dir():
            raise DatasetError(f"Image folder '{self._path}' does not exist.")
        return self._channels, self._size, self._size

    def save(self, data: None) -> None:
        """Refuse to write: raw data is read-only."""
        raise DatasetError("ImageFolderDataset is read-only.")

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "image_size": self._size, "channels": self._channels}
