"""Checkpoints of a long training in a catalog folder: what lets a killed training resume.

The catalog entry (`generator_checkpoint`, `clip_checkpoint`) loads as a `CheckpointFolder`, a
handle the training node reads and writes through: `training(key)` gives one training's
checkpoints. The key is a digest of everything the training's result depends on (its parameters
but `checkpoint_every`/`log_every`, the data's SHA-256, the seed, the resolved precision and
device type, the code and library versions; `genaug.fingerprints.result_key`, as a seed
store's), so a checkpoint is only loaded by a training that would have reached the same state;
the others in the folder are ignored, and logged.

A checkpoint is one safetensors file `<key>-<step>.safetensors`: the loop's tensors (weights,
EMA shadow, optimizer moments, RNG states), with the JSON tree that puts them back together
(`genaug.models.training_state`), the key, the step and whether it is the training's last in
its metadata; nothing is pickled. It is written atomically (a unique temporary name, then
`os.replace`), so a kill leaves the previous checkpoints and at worst a hidden `.tmp` file, never
a half-written checkpoint; a training keeps its newest `keep` checkpoints.

Kedro confirms the dataset once the training node's outputs are saved (`Node(confirms=...)`):
that deletes every checkpoint of the trainings that wrote their last one, so a finished training
leaves nothing behind (a plain rerun trains again, as Kedro users expect), while a kill between
the end of training and the save of its model costs nothing (the rerun restores the last
checkpoint and trains no further). Published models are separate catalog entries, never touched.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from kedro.io import AbstractDataset, DatasetError
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from genaug.common.files import atomic_path

logger = logging.getLogger(__name__)
_SUFFIX = ".safetensors"


def _is_final(path: Path) -> bool:
    """Whether a checkpoint is its training's last (read from the file's header only)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return json.loads((handle.metadata() or {}).get("final", "false")) is True
    except (OSError, SafetensorError, ValueError):
        return False  # unreadable: never loaded either, and left for a person to look at


def _key_of(path: Path) -> str:
    """The training key in a checkpoint's file name."""
    return path.name.removesuffix(_SUFFIX).rpartition("-")[0]


class TrainingCheckpoints:
    """One training's checkpoints (one key) in a folder: the latest to resume from, new ones."""

    def __init__(self, folder: Path, key: str, keep: int) -> None:
        self.folder, self.key, self.keep = folder, key, keep

    def _paths(self) -> list[Path]:
        """This training's checkpoints, oldest first."""
        return sorted(self.folder.glob(f"{self.key}-*{_SUFFIX}"))

    def latest(self) -> tuple[dict[str, torch.Tensor], Any] | None:
        """The newest readable checkpoint of this key: its tensors and JSON tree (or None)."""
        others = {_key_of(path) for path in self.folder.glob(f"*{_SUFFIX}")} - {self.key}
        if others:
            logger.info("ignoring the checkpoints of %d other training(s) in %s (keys %s): "
                        "made with other parameters, data, seed, device, code or libraries",
                        len(others), self.folder, ", ".join(k[:12] for k in sorted(others)))
        for path in reversed(self._paths()):
            try:
                with safe_open(str(path), framework="pt") as handle:
                    metadata = handle.metadata() or {}
                    if metadata.get("key") != self.key:
                        raise ValueError(f"it holds key {metadata.get('key')!r}")
                    names = list(handle.keys())
                    tensors = {name: handle.get_tensor(name) for name in names}
                tree = json.loads(metadata["tree"])
            except (OSError, SafetensorError, ValueError, KeyError) as exc:
                logger.warning("ignoring checkpoint %s: %s", path, exc)
                continue
            logger.info("resuming from checkpoint %s (step %s)", path, metadata["step"])
            return tensors, tree
        return None

    def save(self, tensors: dict[str, torch.Tensor], tree: Any, *, step: int,
             final: bool) -> None:
        """Write the checkpoint taken after `step` steps; drop this key's older ones but `keep`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{self.key}-{step:09d}{_SUFFIX}"
        with atomic_path(target) as tmp:
            save_file(tensors, str(tmp), metadata={
                "key": self.key, "step": str(step), "final": json.dumps(final),
                "tree": json.dumps(tree)})
        for old in self._paths()[:-self.keep]:
            old.unlink(missing_ok=True)
        logger.info("checkpoint after step %d saved: %s", step, target)


class CheckpointFolder:
    """What the catalog entry loads: a folder of checkpoints, read and written by key."""

    def __init__(self, folder: Path, keep: int) -> None:
        self.folder, self.keep = folder, keep

    def training(self, key: str) -> TrainingCheckpoints:
        """The checkpoints of the training with this key."""
        return TrainingCheckpoints(self.folder, key, self.keep)


class CheckpointDataset(AbstractDataset[Any, CheckpointFolder]):
    """Kedro dataset over a checkpoint folder (loads a `CheckpointFolder`; `confirm` cleans up)."""

    def __init__(self, filepath: str, keep: int = 2,
                 metadata: dict[str, Any] | None = None) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1 (the checkpoint to resume from), got {keep}")
        self._filepath = Path(filepath)
        self._keep = keep
        self.metadata = metadata

    def load(self) -> CheckpointFolder:
        """The handle the training node reads the latest checkpoint and writes new ones with."""
        return CheckpointFolder(self._filepath, self._keep)

    def save(self, data: Any) -> None:
        """Not a node output: the node writes checkpoints through the loaded handle."""
        raise DatasetError(f"{self._filepath}: checkpoints are written by the training node "
                           "through the handle this dataset loads, not saved as an output")

    def confirm(self) -> None:
        """Delete every checkpoint of the trainings that saved their last one (Kedro calls this
        once the training node's outputs are saved)."""
        paths = sorted(self._filepath.glob(f"*{_SUFFIX}")) if self._filepath.is_dir() else []
        finished = {_key_of(path) for path in paths if _is_final(path)}
        for path in paths:
            if _key_of(path) in finished:
                path.unlink(missing_ok=True)
        if finished:
            logger.info("deleted the checkpoints of %d finished training(s) in %s",
                        len(finished), self._filepath)

    def _exists(self) -> bool:
        # A cache: empty is a valid state (a node that wrote nothing is not missing an input).
        return True

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "keep": self._keep}
