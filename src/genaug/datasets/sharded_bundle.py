"""A versioned image bundle written shard by shard, resumable, never visible half-written.

Design
------
* The synthesis node that makes the pool returns a :class:`LazyShards`: the generation's
  fingerprint (generator digest + sampling/pool params + seed) and one zero-argument callable
  per shard that makes the shard's bundle. This is the "lazy save" idiom of
  ``PartitionedDataset`` (callables evaluated at save time): the dataset, which owns the I/O,
  decides whether a shard must be computed at all, and computes the others one at a time, so
  only one shard is in memory.
* The whole pool is one ``save`` call, hence one complete Kedro version: Kedro's versioned save
  wrapper (which after every save resolves the latest load version, and fails when there is
  none) sees exactly what it expects. A generator node yielding one chunk per shard would need
  that wrapper bypassed, since its intermediate shards are not a version yet.
* Shards go to a staging folder next to the versioned folder,
  ``<filepath>.staging/<fingerprint>/shard_00000.safetensors``; each file is written under a
  temporary name and renamed, so a shard file that exists is complete. A shard already staged
  under the same fingerprint (left by an interrupted run) is reused without calling its maker -
  this is the resume. Shards are seeded independently (``derive_seed(seed, "pool", i)``), so a
  resumed pool is bit-identical to an uninterrupted one.
* When every shard is staged the dataset writes ``manifest.json`` (counts, shapes,
  fingerprint) and atomically renames the staging folder to ``<filepath>/<version>/<name>``.
  Kedro's loader only sees complete versions; ``load`` also refuses a version folder without
  its manifest (the completion marker).
* ``load`` returns the concatenated bundle ``{"images", "labels"}`` (what downstream nodes
  expect); :meth:`ShardedBundleDataset.iter_shards` streams shards for bounded memory.
* A plain bundle can also be saved (one shard, written atomically the same way).

Only the local filesystem is supported (atomic ``os.replace``/``rename``); the dataset holds
only paths, so it pickles for ParallelRunner.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version
from safetensors.torch import load_file, save_file

MANIFEST = "manifest.json"
SHARD_FMT = "shard_{:05d}.safetensors"


@dataclass(frozen=True)
class LazyShards:
    """A sharded generation: its identity and one maker per shard, called only if not staged."""

    fingerprint: str
    makers: tuple[Callable[[], Mapping[str, torch.Tensor]], ...]

    @property
    def num_shards(self) -> int:
        """How many shards the generation has."""
        return len(self.makers)


class ShardedBundleDataset(AbstractVersionedDataset[Any, dict[str, torch.Tensor]]):
    """Versioned folder of safetensors shards of an image bundle (see the module docstring).

    Example catalog entry::

        synthetic_pool:
          type: genaug.datasets.sharded_bundle.ShardedBundleDataset
          filepath: data/05_model_input/synthetic_pool
          versioned: true
    """

    def __init__(self, *, filepath: str, version: Version | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        """Create the dataset at `filepath` (a folder; versions live under it)."""
        path = PurePosixPath(Path(filepath).as_posix())
        # Only complete versions exist under their final name, so plain globbing finds them.
        super().__init__(filepath=path, version=version, exists_function=os.path.exists,
                         glob_function=glob.glob)
        self.metadata = metadata

    # ------------------------------------------------------------------ paths
    @property
    def staging_root(self) -> Path:
        """Folder holding the staging folders of unfinished generations."""
        return Path(str(self._filepath) + ".staging")

    def staging_dir(self, fingerprint: str) -> Path:
        """Staging folder of one generation."""
        if not fingerprint or "/" in fingerprint or fingerprint in (".", ".."):
            raise DatasetError(f"Invalid shard fingerprint {fingerprint!r}.")
        return self.staging_root / fingerprint

    def _final_dir(self) -> Path:
        if self._version is None:
            return Path(str(self._filepath))
        return Path(str(self._get_versioned_path(self.resolve_save_version())))

    # ------------------------------------------------------------------ save
    def save(self, data: LazyShards | Mapping[str, torch.Tensor]) -> None:
        """Stage every shard (computing only those not staged yet), then publish the version."""
        if isinstance(data, LazyShards):
            pool = data
        elif isinstance(data, Mapping):
            bundle = dict(data)
            pool = LazyShards(f"single-{uuid.uuid4().hex}", (lambda: bundle,))
        else:
            raise DatasetError(
                f"{type(self).__name__} saves LazyShards or a bundle dict, got {type(data)}."
            )
        if not pool.makers:
            raise DatasetError(f"Cannot save {self}: the generation has no shards.")
        stage = self.staging_dir(pool.fingerprint)
        stage.mkdir(parents=True, exist_ok=True)
        for index, make in enumerate(pool.makers):
            target = stage / SHARD_FMT.format(index)
            if target.exists():  # staged by an interrupted run of the same generation
                continue
            shard = _check_bundle(make())
            tmp = stage / f".{target.name}.{uuid.uuid4().hex}.tmp"
            save_file({"images": shard["images"].contiguous(),
                       "labels": shard["labels"].contiguous()}, str(tmp))
            os.replace(tmp, target)
            del shard  # at most one shard in memory while the next one is made
        self._publish(stage, pool)

    def _publish(self, stage: Path, pool: LazyShards) -> None:
        counts, shape = [], None
        for index in range(pool.num_shards):
            part = load_file(str(stage / SHARD_FMT.format(index)))
            counts.append(int(part["labels"].shape[0]))
            shape = list(part["images"].shape[1:])
        manifest = {"fingerprint": pool.fingerprint, "num_shards": pool.num_shards,
                    "shard_sizes": counts, "num_images": sum(counts), "image_shape": shape}
        tmp = stage / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, stage / MANIFEST)
        final = self._final_dir()
        if final.exists():
            if self._version is not None:
                raise DatasetError(f"Save path '{final}' for {self} must not exist if versioning "
                                   "is enabled.")
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(stage, final)
        with contextlib.suppress(OSError):
            self.staging_root.rmdir()

    # ------------------------------------------------------------------ load
    def _load_dir(self) -> Path:
        path = Path(str(self._get_load_path()))
        if not (path / MANIFEST).exists():
            raise DatasetError(f"{path} has no {MANIFEST}: it is not a complete sharded bundle.")
        return path

    def manifest(self) -> dict[str, Any]:
        """The manifest of the version that load() would read."""
        return json.loads((self._load_dir() / MANIFEST).read_text())

    def iter_shards(self) -> Iterator[dict[str, torch.Tensor]]:
        """Yield the shards of the version that load() would read, one at a time."""
        path = self._load_dir()
        manifest = json.loads((path / MANIFEST).read_text())
        for i in range(manifest["num_shards"]):
            part = load_file(str(path / SHARD_FMT.format(i)))
            yield {"images": part["images"], "labels": part["labels"]}

    def load(self) -> dict[str, torch.Tensor]:
        """Load and concatenate every shard into one bundle."""
        parts = list(self.iter_shards())
        return {"images": torch.cat([p["images"] for p in parts]),
                "labels": torch.cat([p["labels"] for p in parts])}

    # ------------------------------------------------------------------ misc
    def _exists(self) -> bool:
        try:
            path = Path(str(self._get_load_path()))
        except DatasetError:
            return False
        return (path / MANIFEST).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}


def _check_bundle(bundle: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    if not isinstance(bundle, Mapping) or not {"images", "labels"} <= set(bundle):
        raise DatasetError("A shard must be a dict with 'images' and 'labels'.")
    images, labels = bundle["images"], bundle["labels"]
    if images.dtype != torch.uint8 or images.ndim != 4 or labels.dtype != torch.int64 \
            or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DatasetError("A shard needs uint8 images N×C×H×W and int64 labels N.")
    return {"images": images, "labels": labels}
