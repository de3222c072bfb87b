"""Read-only Kedro dataset for CIFAR-10/100's python folders, checksummed and safely unpickled."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from kedro.io.core import AbstractDataset, DatasetError

from genaug.datasets.restricted_pickle import RestrictedPickleError, load_arrays

_SIDE = 32
_PIXELS = 3 * _SIDE * _SIDE  # one row of b'data': the red, green, blue planes, each row-major
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class _Layout:
    """Where one CIFAR variant keeps its files, their official MD5s and its label keys."""

    folder: str
    splits: dict[str, tuple[str, ...]]
    meta: str
    md5: dict[str, str]
    labels: dict[str, tuple[bytes, bytes]]  # label kind -> (batch key, meta key)


# The official MD5 sums as torchvision publishes them (the `train_list`, `test_list` and `meta`
# class attributes of torchvision.datasets.CIFAR10/CIFAR100); tests/datasets/test_cifar.py checks
# that they still agree. Copied, so that loading needs no torchvision.
_LAYOUTS = {
    "CIFAR10": _Layout(
        folder="cifar-10-batches-py",
        splits={"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
        meta="batches.meta",
        md5={"data_batch_1": "c99cafc152244af753f735de768cd75f",
             "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
             "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
             "data_batch_4": "634d18415352ddfa80567beed471001a",
             "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
             "test_batch": "40351d587109b95175f43aff81a1287e",
             "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"},
        labels={"fine": (b"labels", b"label_names")},
    ),
    "CIFAR100": _Layout(
        folder="cifar-100-python",
        splits={"train": ("train",), "test": ("test",)},
        meta="meta",
        md5={"train": "16019d7e3df5f24257cddd939b257f8d",
             "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
             "meta": "7973b15100ade9c7d40fb424638fde48"},
        labels={"fine": (b"fine_labels", b"fine_label_names"),
                "coarse": (b"coarse_labels", b"coarse_label_names")},
    ),
}


class CIFARDataset(AbstractDataset[None, dict[str, Any]]):
    """Loads a CIFAR-10/100 split from the official python folder, offline, as an image bundle.

    Every file is checked against its official MD5 (or a SHA-256 given in `checksums`) before
    it is read, and read by an unpickler that builds numpy arrays and plain containers only.

    ```yaml
    raw_train:
      type: genaug.datasets.CIFARDataset
      name: CIFAR10               # or CIFAR100 (then label: fine | coarse)
      root: data/01_raw           # holds cifar-10-batches-py/ (cifar-100-python/)
      split: train                # or test
      checksums:                  # optional SHA-256 per file; unlisted files keep the official MD5
        data_batch_1: 8f3a...
    ```
    """

    def __init__(self, *, name: str, root: str, split: str = "train", label: str = "fine",
                 checksums: dict[str, str] | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        """Choose the variant, the folder that holds it, the split and the label kind."""
        if name not in _LAYOUTS:
            raise DatasetError(f"CIFARDataset name must be one of {list(_LAYOUTS)}, got {name!r}.")
        layout = _LAYOUTS[name]
        if split not in layout.splits:
            raise DatasetError(f"CIFARDataset split must be 'train' or 'test', got {split!r}.")
        if label not in layout.labels:
            raise DatasetError(
                f"CIFARDataset label must be one of {list(layout.labels)} for {name}, "
                f"got {label!r}."
            )
        self._name, self._root, self._split, self._label = name, root, split, label
        self._layout = layout
        self._checksums = _checked_sha256s(checksums or {}, layout)
        self.metadata = metadata

    @property
    def _folder(self) -> Path:
        """The variant's folder under `root`."""
        return Path(self._root) / self._layout.folder

    def _files(self) -> list[str]:
        """The files this split reads: its batches, then the meta file."""
        return [*self._layout.splits[self._split], self._layout.meta]

    def _check_present(self) -> None:
        """Fail naming every file of the split that is not in the folder."""
        missing = [f"'{self._folder / f}'" for f in self._files()
                   if not (self._folder / f).is_file()]
        if missing:
            raise DatasetError(
                f"Raw file{'' if len(missing) == 1 else 's'} {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing: "
                f"unpack the official {self._name} python archive so that '{self._root}' holds "
                f"{self._layout.folder}/."
            )

    def image_shape(self) -> tuple[int, int, int]:
        """The (C, H, W) of every CIFAR image, once the files are there (a check before a run)."""
        self._check_present()
        return 3, 32, 32

    def load(self) -> dict[str, Any]:
        """Verify and read the split's batches and the class names into a bundle."""
        self._check_present()
        batch_key, names_key = self._layout.labels[self._label]
        class_names = _class_names(self._read(self._layout.meta), names_key,
                                   self._folder / self._layout.meta)
        images, labels = [], []
        for filename in self._layout.splits[self._split]:
            batch_images, batch_labels = _batch(self._read(filename), batch_key,
                                                self._folder / filename, len(class_names))
            images.append(batch_images)
            labels.append(batch_labels)
        return {
            "images": torch.from_numpy(np.concatenate(images)),
            "labels": torch.from_numpy(np.concatenate(labels)),
            "class_names": class_names,
            "source": f"{self._folder} ({self._split})",
        }

    def _read(self, filename: str) -> dict[bytes, Any]:
        """One file's verified bytes, unpickled without building anything but arrays."""
        path = self._folder / filename
        raw = path.read_bytes()
        self._verify(filename, raw)
        try:
            content = load_arrays(raw)
        except RestrictedPickleError as exc:
            raise DatasetError(f"Raw file '{path}' {exc}.") from None
        if not isinstance(content, dict):
            raise DatasetError(
                f"Raw file '{path}' holds a {type(content).__name__}, expected a dict "
                "(the CIFAR python format)."
            )
        return content

    def _verify(self, filename: str, raw: bytes) -> None:
        """Check a file's SHA-256 when one is given, else its official MD5."""
        if filename in self._checksums:
            kind, expected = "SHA-256", self._checksums[filename]
            got = hashlib.sha256(raw).hexdigest()
        else:
            kind, expected = "MD5", self._layout.md5[filename]
            got = hashlib.md5(raw, usedforsecurity=False).hexdigest()
        if got != expected:
            official = "" if kind == "SHA-256" else (
                f" (the official sum; for a re-packed folder give `checksums: {{{filename}: "
                "<sha256>}`)")
            raise DatasetError(
                f"Raw file '{self._folder / filename}' is corrupt or not the expected file: "
                f"its {kind} is {got}, expected {expected}{official}."
            )

    def save(self, data: None) -> None:
        """Refuse to write: raw data is read-only."""
        raise DatasetError("CIFARDataset is read-only: raw files are never overwritten.")

    def _exists(self) -> bool:
        """Whether every file this split reads is in the folder."""
        return all((self._folder / f).is_file() for f in self._files())

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name, "root": self._root, "split": self._split,
                "label": self._label, "checksums": self._checksums or "official MD5"}


def _checked_sha256s(checksums: dict[str, str], layout: _Layout) -> dict[str, str]:
    """The user's SHA-256 per file, lower-cased; unknown file names and non-sums are refused."""
    unknown = sorted(set(checksums) - set(layout.md5))
    if unknown:
        raise DatasetError(
            f"CIFARDataset checksums name unknown file(s) {unknown}; {layout.folder}/ holds "
            f"{sorted(layout.md5)}."
        )
    bad = sorted(k for k, v in checksums.items() if not _SHA256.fullmatch(str(v)))
    if bad:
        raise DatasetError(f"CIFARDataset checksums for {bad} must be 64 hex digits (SHA-256).")
    return {k: str(v).lower() for k, v in checksums.items()}


def _class_names(meta: dict[bytes, Any], key: bytes, path: Path) -> list[str]:
    """The class names in a meta file, decoded."""
    names = meta.get(key)
    if not isinstance(names, list) or not names or \
            not all(isinstance(n, bytes | str) for n in names):
        raise DatasetError(
            f"Raw file '{path}' has no list of class names under {key!r} "
            f"(keys: {sorted(map(repr, meta))})."
        )
    return [n.decode("utf-8") if isinstance(n, bytes) else n for n in names]


def _batch(content: dict[bytes, Any], key: bytes, path: Path,
           n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A batch's images (uint8 N×3×32×32) and labels (int64 N), checked."""
    data = content.get(b"data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != _PIXELS:
        shape = (getattr(data, "dtype", type(data).__name__), getattr(data, "shape", None))
        raise DatasetError(
            f"Raw file '{path}': b'data' must be a uint8 array of N×{_PIXELS}, got {shape}."
        )
    raw_labels = content.get(key)
    labels = np.asarray(raw_labels if isinstance(raw_labels, list | np.ndarray) else [])
    if labels.ndim != 1 or len(labels) != len(data) or \
            (labels.size and labels.dtype.kind not in "iu"):
        raise DatasetError(
            f"Raw file '{path}': {key!r} must be {len(data)} integer labels, one per image."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetError(
            f"Raw file '{path}': {key!r} holds ids {labels.min()}..{labels.max()}, but the meta "
            f"file names {n_classes} classes."
        )
    images = data.reshape(len(data), 3, _SIDE, _SIDE)
    return images, labels.astype(np.int64)
