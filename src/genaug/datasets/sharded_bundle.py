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
* A generation can be made in parts, so several processes (Dask workers) make its shards at
  once: :meth:`LazyShards.part` is one part's share of the shards, and
  :class:`ShardedBundlePart` (one catalog entry per part) stages exactly those shards into the
  bundle's staging folder and writes a small receipt. The node that saves the whole generation
  afterwards finds every shard staged and only publishes. A part lost with its worker costs
  that part's unstaged shards; a rerun makes only those.

Only the local filesystem (or one every worker mounts at the same path) is supported (atomic
``os.replace``/``rename``); the datasets hold only paths, so they pickle for ParallelRunner and
Dask workers.
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
from kedro.io.core import AbstractDataset, AbstractVersionedDataset, DatasetError, Version
from safetensors.torch import load_file, save_file

from genaug.common.files import atomic_path, atomic_write_text

MANIFEST = "manifest.json"
SHARD_FMT = "shard_{:05d}.safetensors"


@dataclass(frozen=True)
class LazyShards:
    """A sharded generation: its identity and one maker per shard, called only if not staged.

    `indices` are the shard numbers the makers make: None for the whole generation (shard i is
    made by makers[i]), a subset for one part of it (see :meth:`part`).
    """

    fingerprint: str
    makers: tuple[Callable[[], Mapping[str, torch.Tensor]], ...]
    indices: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.indices is not None and len(self.indices) != len(self.makers):
            raise ValueError(f"{len(self.makers)} shard makers for {len(self.indices)} indices")

    def __deepcopy__(self, memo: dict[int, Any]) -> LazyShards:
        # A description of work, not data: a copy (Kedro's MemoryDataset deep-copies what it
        # holds) would only duplicate the generator the makers close over.
        return self

    @property
    def num_shards(self) -> int:
        """How many shards the makers make."""
        return len(self.makers)

    @property
    def shard_indices(self) -> tuple[int, ...]:
        """The shard number of each maker."""
        return tuple(range(len(self.makers))) if self.indices is None else self.indices

    def part(self, index: int, parts: int) -> LazyShards:
        """Part `index` of `parts` of a whole generation: shards index, index + parts, ...

        Interleaved, so parts stay within one shard of each other in size. A part can be empty
        (fewer shards than parts).
        """
        if self.indices is not None:
            raise ValueError("only a whole generation is split into parts")
        if not 0 <= index < parts:
            raise ValueError(f"part {index} of {parts} does not exist")
        chosen = range(index, len(self.makers), parts)
        return LazyShards(self.fingerprint, tuple(self.makers[i] for i in chosen), tuple(chosen))


@dataclass(frozen=True)
class PartReceipt:
    """What a staged part holds: the generation it belongs to and its shard numbers."""

    fingerprint: str
    indices: tuple[int, ...]


class ShardedBundleDataset(AbstractVersionedDataset[Any, dict[str, torch.Tensor]]):
    """Versioned folder of safetensors shards of an image bundle (see the module docstring).

    Example catalog entry::

        synthetic_pool:
          type: genaug.datasets.sharded_bundle.ShardedBundleDataset
          filepath: data/05_model_input/synthetic_pool
          versioned: true
    """

    interrupt_safe = True  # staged, then renamed: a signal may cut a save (tracking.interrupts)

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
        if pool.shard_indices != tuple(range(pool.num_shards)):
            raise DatasetError(f"Cannot save {self}: a part of a generation is staged by "
                               f"{ShardedBundlePart.__name__}, only a whole one is published.")
        stage = self.staging_dir(pool.fingerprint)
        stage_shards(stage, pool)
        self._publish(stage, pool)

    def _publish(self, stage: Path, pool: LazyShards) -> None:
        # A process killed mid-write (a lost worker) leaves its temporary file: not published.
        for leftover in stage.glob(".shard_*.tmp"):
            leftover.unlink(missing_ok=True)
        counts, shape = [], None
        for index in range(pool.num_shards):
            part = load_file(str(stage / SHARD_FMT.format(index)))
            counts.append(int(part["labels"].shape[0]))
            shape = list(part["images"].shape[1:])
        manifest = {"fingerprint": pool.fingerprint, "num_shards": pool.num_shards,
                    "shard_sizes": counts, "num_images": sum(counts), "image_shape": shape}
        atomic_write_text(stage / MANIFEST, json.dumps(manifest, indent=2))
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


class ShardedBundlePart(AbstractDataset[LazyShards, PartReceipt]):
    """One part of a :class:`ShardedBundleDataset` generation (see the module docstring).

    `save` stages the part's shards (those not staged yet) in the bundle's staging folder, then
    writes a receipt ``<filepath>.parts/part_<part>.json``; `load` returns the receipt, so the
    node publishing the whole generation can depend on every part. Example catalog entry (one
    factory serves every part; `filepath` is the bundle's)::

        "synthetic_pool_part_{part}":
          type: genaug.datasets.sharded_bundle.ShardedBundlePart
          filepath: data/05_model_input/synthetic_pool
          part: "{part}"
    """

    interrupt_safe = True  # shards and receipt are written atomically

    def __init__(self, *, filepath: str, part: str | int,
                 metadata: dict[str, Any] | None = None) -> None:
        """The part named `part` of the bundle at `filepath`."""
        self._filepath, self._part = str(filepath), str(part)
        if not self._part.replace("_", "").isalnum():
            raise DatasetError(f"Invalid part name {part!r}: letters, digits and '_' only.")
        self._bundle = ShardedBundleDataset(filepath=filepath)
        self._receipt = Path(self._filepath + ".parts") / f"part_{self._part}.json"
        self.metadata = metadata

    @property
    def receipt_path(self) -> Path:
        """Where the part's receipt is written."""
        return self._receipt

    def save(self, data: LazyShards) -> None:
        """Stage the part's missing shards, then record the part as done."""
        if not isinstance(data, LazyShards):
            raise DatasetError(f"{type(self).__name__} saves LazyShards, got {type(data)}.")
        stage_shards(self._bundle.staging_dir(data.fingerprint), data)
        receipt = {"fingerprint": data.fingerprint, "shards": list(data.shard_indices)}
        self._receipt.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self._receipt, json.dumps(receipt))

    def load(self) -> PartReceipt:
        """The receipt of the part's last save."""
        if not self._receipt.exists():
            raise DatasetError(f"{self._receipt} does not exist: part {self._part} never ran.")
        receipt = json.loads(self._receipt.read_text())
        return PartReceipt(receipt["fingerprint"], tuple(receipt["shards"]))

    def _exists(self) -> bool:
        return self._receipt.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "part": self._part}


def stage_shards(stage: Path, pool: LazyShards) -> None:
    """Write every shard of `pool` not yet in `stage`, each atomically, one at a time.

    A shard file that exists is complete (written under a temporary name, then renamed), so it
    is reused without calling its maker: this is the resume, and how parts made by other
    processes are picked up. Processes may stage different shards of one generation at once.
    """
    stage.mkdir(parents=True, exist_ok=True)
    for index, make in zip(pool.shard_indices, pool.makers, strict=True):
        target = stage / SHARD_FMT.format(index)
        if target.exists():  # staged by an interrupted run or by a part of this generation
            continue
        shard = _check_bundle(make())
        with atomic_path(target) as tmp:
            save_file({"images": shard["images"].contiguous(),
                       "labels": shard["labels"].contiguous()}, str(tmp))
        del shard  # at most one shard in memory while the next one is made


def _check_bundle(bundle: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    if not isinstance(bundle, Mapping) or not {"images", "labels"} <= set(bundle):
        raise DatasetError("A shard must be a dict with 'images' and 'labels'.")
    images, labels = bundle["images"], bundle["labels"]
    if images.dtype != torch.uint8 or images.ndim != 4 or labels.dtype != torch.int64 \
            or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DatasetError("A shard needs uint8 images N×C×H×W and int64 labels N.")
    return {"images": images, "labels": labels}
