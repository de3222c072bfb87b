"""Read-only Kedro dataset for MNIST-format IDX files (Fashion-MNIST, MNIST, KMNIST)."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from typing import Any

import fsspec
import numpy as np
import torch
from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path

_IMAGE_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
_LABEL_MAGIC = 0x00000801  # unsigned byte, 1 dimension
_HEADER_READ = 4096  # compressed bytes read to decode an image file's 16-byte header
_GZIP_WBITS = 16 + 15  # zlib's setting for a gzip stream


class IDXImageDataset(AbstractDataset[None, dict[str, Any]]):
    """Loads an images + labels pair of IDX files as an image bundle, checking SHA-256 sums.

    The sums are of the *decompressed* contents, so a recompressed `.gz` still verifies.

    ```yaml
    raw_train:
      type: genaug.datasets.IDXImageDataset
      images_filepath: data/01_raw/fashion-mnist/train-images-idx3-ubyte.gz
      labels_filepath: data/01_raw/fashion-mnist/train-labels-idx1-ubyte.gz
      images_sha256: c59f468a...
      labels_sha256: bad3541b...
    ```
    """

    def __init__(self, *, images_filepath: str, labels_filepath: str,
                 images_sha256: str | None = None, labels_sha256: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        """Point the dataset at two IDX files and, optionally, their expected sums."""
        self._images_path = images_filepath
        self._labels_path = labels_filepath
        self._images_sha256 = images_sha256
        self._labels_sha256 = labels_sha256
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        """Read, verify and decode both files into {'images', 'labels', 'source'}."""
        images = _parse(_read_verified(self._images_path, self._images_sha256),
                        self._images_path, _IMAGE_MAGIC)
        labels = _parse(_read_verified(self._labels_path, self._labels_sha256),
                        self._labels_path, _LABEL_MAGIC)
        if images.shape[0] != labels.shape[0]:
            raise DatasetError(
                f"IDX files disagree: '{self._images_path}' holds {images.shape[0]} images but "
                f"'{self._labels_path}' holds {labels.shape[0]} labels."
            )
        return {
            "images": torch.from_numpy(images.copy()).unsqueeze(1),
            "labels": torch.from_numpy(labels.astype(np.int64)),
            "source": self._images_path,
        }

    def image_shape(self) -> tuple[int, int, int]:
        """The images' (1, H, W) from the image file's header (a cheap check before a run)."""
        fs, path = _filesystem(self._images_path)
        if not fs.exists(path):
            raise DatasetError(f"Raw file '{self._images_path}' is missing: expected an IDX "
                               "file there.")
        with fs.open(path, "rb") as handle:
            try:
                header = handle.read(_HEADER_READ)
                if self._images_path.endswith(".gz"):
                    header = zlib.decompressobj(_GZIP_WBITS).decompress(header, 16)
            except zlib.error as exc:
                raise DatasetError(f"Raw file '{self._images_path}' is corrupt: not a complete "
                                   f"gzip stream ({exc}).") from exc
        if len(header) < 16 or int.from_bytes(header[:4], "big") != _IMAGE_MAGIC:
            raise DatasetError(f"Raw file '{self._images_path}' is not an IDX image file.")
        return 1, int.from_bytes(header[8:12], "big"), int.from_bytes(header[12:16], "big")

    def save(self, data: None) -> None:
        """Refuse to write: raw data is read-only."""
        raise DatasetError("IDXImageDataset is read-only: raw files are never overwritten.")

    def _exists(self) -> bool:
        return all(fs.exists(path) for fs, path in
                   map(_filesystem, (self._images_path, self._labels_path)))

    def _describe(self) -> dict[str, Any]:
        return {"images_filepath": self._images_path, "labels_filepath": self._labels_path,
                "images_sha256": self._images_sha256, "labels_sha256": self._labels_sha256}


def _filesystem(filepath: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """Return the fsspec filesystem and protocol-free path of a filepath."""
    protocol, path = get_protocol_and_path(filepath)
    return fsspec.filesystem(protocol), path


def _read_verified(filepath: str, sha256: str | None) -> bytes:
    """Read a (possibly gzipped) file and check the SHA-256 of its decompressed bytes."""
    fs, path = _filesystem(filepath)
    if not fs.exists(path):
        raise DatasetError(f"Raw file '{filepath}' is missing: expected an IDX file there.")
    with fs.open(path, "rb") as handle:
        raw = handle.read()
    if filepath.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DatasetError(
                f"Raw file '{filepath}' is corrupt: not a complete gzip stream ({exc})."
            ) from exc
    if sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != sha256.lower():
            raise DatasetError(
                f"Raw file '{filepath}' is corrupt or not the expected file: SHA-256 of its "
                f"decompressed contents is {digest}, expected {sha256}."
            )
    return raw


def _parse(raw: bytes, filepath: str, magic: int) -> np.ndarray:
    """Decode an IDX byte string with the expected magic number."""
    if len(raw) < 8:
        raise DatasetError(f"Raw file '{filepath}' is too short to be an IDX file.")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DatasetError(
            f"Raw file '{filepath}' has IDX magic {found:#010x}, expected {magic:#010x} "
            f"({'images' if magic == _IMAGE_MAGIC else 'labels'} of unsigned bytes)."
        )
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise DatasetError(
            f"Raw file '{filepath}' is truncated or padded: header says {dims} "
            f"({expected} bytes), body has {len(raw) - offset} bytes."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)
