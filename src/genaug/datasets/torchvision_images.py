"""Read-only Kedro dataset for torchvision's MNIST family (`download: true` fetches it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from kedro.io.core import AbstractDataset, DatasetError

_SUPPORTED = ("MNIST", "FashionMNIST", "KMNIST")
# torchvision reads CIFAR's batches with pickle.load, which runs whatever a crafted file names;
# genaug.datasets.CIFARDataset reads the same folder without that risk.
_REFUSED = ("CIFAR10", "CIFAR100")


class TorchvisionImageDataset(AbstractDataset[None, dict[str, Any]]):
    """Loads a torchvision dataset split as a bundle (`download: true` needs the network once).

    ```yaml
    raw_train:
      type: genaug.datasets.TorchvisionImageDataset
      name: KMNIST
      root: data/01_raw/torchvision
      train: true
      download: true
    ```
    """

    def __init__(self, *, name: str, root: str, train: bool = True, download: bool = False,
                 metadata: dict[str, Any] | None = None) -> None:
        """Choose the torchvision dataset class, its root folder and split."""
        if name in _REFUSED:
            raise DatasetError(
                f"TorchvisionImageDataset does not read {name}: torchvision unpickles its "
                f"batches, which can run code. Use genaug.datasets.CIFARDataset (name: {name}, "
                "root: the folder holding the unpacked python archive, split: train|test)."
            )
        if name not in _SUPPORTED:
            raise DatasetError(
                f"TorchvisionImageDataset name must be one of {_SUPPORTED}, got {name!r}."
            )
        self._name, self._root, self._train, self._download = name, root, train, download
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        """Load the split into a bundle with its class names."""
        import torchvision

        cls = getattr(torchvision.datasets, self._name)
        try:
            ds = cls(root=self._root, train=self._train, download=self._download)
        except RuntimeError as exc:
            raise DatasetError(
                f"torchvision {self._name} not found under '{self._root}' ({exc}); "
                "set download: true once while online."
            ) from exc
        data = np.asarray(ds.data)
        images = torch.from_numpy(data).unsqueeze(1) if data.ndim == 3 else \
            torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
        return {
            "images": images.to(torch.uint8),
            "labels": torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64),
            "class_names": list(ds.classes),
            "source": f"torchvision.datasets.{self._name}({self._root})",
        }

    def save(self, data: None) -> None:
        """Refuse to write: raw data is read-only."""
        raise DatasetError("TorchvisionImageDataset is read-only.")

    def _exists(self) -> bool:
        """Whether every file torchvision needs to load this dataset is under `root`."""
        return all(path.is_file() for path in self._required_files())

    def _required_files(self) -> list[Path]:
        """The files torchvision's class reads, from its public class attributes.

        torchvision checks both splits before loading either, so both are required here too.
        """
        import torchvision

        cls = getattr(torchvision.datasets, self._name)
        # MNIST family: <root>/<Name>/raw/ holds the four IDX files, unzipped.
        raw = Path(self._root) / self._name / "raw"
        return [raw / Path(name).stem for name, _ in cls.resources]

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name, "root": self._root, "train": self._train}
