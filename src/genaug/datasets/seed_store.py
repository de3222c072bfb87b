"""A folder of trained seeds, one safetensors file per (seed, settings) key: what lets a run that
adds seeds train only the new ones.

Each entry is `<key>.safetensors`: a classifier's state_dict, with its training run (JSON) in the
file's metadata. Keys are digests of everything that makes a seed's weights (see
`genaug.pipelines.training.nodes.seed_key`), so an entry is reused only by a training that
would have produced it. Entries are written once, atomically (a temporary name, then
`os.replace`), and never overwritten or deleted: nothing saved is lost.

A store that reads as empty (`reuse=False`) makes every seed train again; the project's
`StaleOutputsHook` sets it for runs without `--only-missing-outputs`, so a plain `kedro run`
retrains everything, as Kedro users expect.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from kedro.io import AbstractDataset
from safetensors import safe_open
from safetensors.torch import save_file

Entry = tuple[dict[str, torch.Tensor], dict[str, Any]]
_SUFFIX = ".safetensors"


class SeedStore(Mapping[str, Entry]):
    """Read access to a store's entries by key; each loads when asked for."""

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder
        found = sorted(folder.glob(f"*{_SUFFIX}")) if folder and folder.is_dir() else []
        self._paths = {path.name.removesuffix(_SUFFIX): path for path in found}

    def __getitem__(self, key: str) -> Entry:
        """(state_dict, training run) of an entry."""
        path = self._paths[key]
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            # safetensors sorts names: the state_dict's own order is kept in the metadata
            order = json.loads(metadata.get("order", "[]")) or list(handle.keys())
            state = {name: handle.get_tensor(name) for name in order}
            run = json.loads(metadata.get("run", "{}"))
        return state, run

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


class SeedStoreDataset(AbstractDataset[Mapping[str, Entry], SeedStore]):
    """Kedro dataset over a seed store folder (loads a `SeedStore`, saves new entries)."""

    def __init__(self, filepath: str, reuse: bool = True,
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._reuse = reuse
        self.metadata = metadata

    def without_reuse(self) -> SeedStoreDataset:
        """The same folder, read as empty (its entries are still written)."""
        return SeedStoreDataset(str(self._filepath), reuse=False, metadata=self.metadata)

    def load(self) -> SeedStore:
        """The entries on disk (none when reuse is off or nothing was saved yet)."""
        return SeedStore(self._filepath if self._reuse else None)

    def save(self, data: Mapping[str, Entry]) -> None:
        """Write the entries that are not on disk yet (an existing key is the same seed)."""
        self._filepath.mkdir(parents=True, exist_ok=True)
        for key, (state, run) in data.items():
            target = self._filepath / f"{key}{_SUFFIX}"
            if target.exists():
                continue
            tmp = self._filepath / f".{key}.{uuid.uuid4().hex}.tmp"
            tensors = {name: value.detach().cpu().contiguous() for name, value in state.items()}
            save_file(tensors, str(tmp), metadata={"run": json.dumps(run, sort_keys=True),
                                                   "order": json.dumps(list(tensors))})
            os.replace(tmp, target)

    def _exists(self) -> bool:
        # A store is a cache: empty is a valid state, so it always "exists" (a node that
        # added nothing to it is not missing an output).
        return True

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "reuse": self._reuse}
