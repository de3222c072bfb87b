"""A training loop's state as tensors and JSON: what a checkpoint stores, and resuming from it.

To go on bit for bit where it stopped, a loop needs the state dicts of its parts (model,
optimizer, LR scheduler, EMA), its own values (the loss history) and every RNG it draws from:
its batch generator, torch's global CPU RNG (dropout, if a model has any) and, on a GPU, the
device's. `flatten` turns such nested state dicts (dicts, lists and tuples of tensors and JSON
scalars) into named tensors plus a JSON tree that refers to them, so a checkpoint is a
safetensors file with JSON beside it and resuming unpickles nothing; `unflatten` rebuilds them,
integer keys and tuples included (an optimizer's state is keyed by parameter index).

Where checkpoints live and which ones a training may load is the store's business
(`genaug.datasets.checkpoints`); this module only needs its `latest` and `save`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


class CheckpointStore(Protocol):
    """One training's checkpoints (`genaug.datasets.checkpoints.TrainingCheckpoints`)."""

    def latest(self) -> tuple[dict[str, torch.Tensor], Any] | None:
        """The newest checkpoint's tensors and JSON tree, or None."""

    def save(self, tensors: dict[str, torch.Tensor], tree: Any, *, step: int,
             final: bool) -> None:
        """Write the checkpoint taken after `step` steps (`final`: the training's last)."""


class Stateful(Protocol):
    """A part of a loop with a state dict (a module, an optimizer, a scheduler, an EMA)."""

    def state_dict(self) -> Any:
        """Its state (references to its tensors)."""

    def load_state_dict(self, state: Any) -> Any:
        """Take the state `state_dict` gave."""


def flatten(value: Any, name: str, tensors: dict[str, torch.Tensor]) -> Any:
    """`value` as a JSON tree whose tensors are CPU copies put in `tensors` under their path."""
    if isinstance(value, torch.Tensor):
        if name in tensors:
            raise ValueError(f"two tensors of the state are named {name!r}")
        tensors[name] = value.detach().to("cpu", copy=True).contiguous()
        return {"tensor": name}
    if isinstance(value, Mapping):
        return {"dict": [[key, flatten(item, f"{name}/{key}" if name else str(key), tensors)]
                         for key, item in value.items()]}
    if isinstance(value, list | tuple):
        return {type(value).__name__: [flatten(item, f"{name}/{index}", tensors)
                                       for index, item in enumerate(value)]}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"{name}: a {type(value).__name__} cannot be stored in a checkpoint")


def unflatten(tree: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Rebuild what `flatten` stored."""
    if not isinstance(tree, dict):
        return tree
    ((kind, body),) = tree.items()
    if kind == "tensor":
        return tensors[body]
    if kind == "dict":
        return {key: unflatten(item, tensors) for key, item in body}
    items = [unflatten(item, tensors) for item in body]
    return tuple(items) if kind == "tuple" else items


class LoopCheckpoints:
    """A loop's checkpoints: resume from the latest; save every `every` steps and after the last.

    A step is whatever the loop counts (an optimizer step, an epoch). With no store, or `every`
    null or 0, nothing is read or written.
    """

    def __init__(self, store: CheckpointStore | None, every: int | None, total: int,
                 parts: Mapping[str, Stateful], generator: torch.Generator,
                 device: torch.device) -> None:
        self.store = store if every else None
        self.every, self.total = every or 0, total
        self.parts, self.generator, self.device = parts, generator, device

    @contextlib.contextmanager
    def global_rng(self) -> Iterator[None]:
        """Run the loop with the global RNGs it may restore put back as they were on exit."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            yield

    def resume(self) -> tuple[int, dict[str, Any]]:
        """Load the latest checkpoint into the parts and RNGs: (steps done, the loop's values);
        (0, {}) without one. Call it inside `global_rng`."""
        found = self.store.latest() if self.store is not None else None
        if found is None:
            return 0, {}
        state = unflatten(found[1], found[0])
        for name, part in self.parts.items():
            part.load_state_dict(state["parts"][name])
        rng = state["rng"]
        self.generator.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        return state["step"], state["values"]

    def save_if_due(self, step: int, values: Mapping[str, Any]) -> None:
        """After `step` steps: save the loop's state and `values` if a checkpoint is due."""
        if self.store is None or (step % self.every and step != self.total):
            return
        rng = {"generator": self.generator.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        state = {"step": step, "parts": {name: part.state_dict()
                                         for name, part in self.parts.items()},
                 "rng": rng, "values": dict(values)}
        tensors: dict[str, torch.Tensor] = {}
        tree = flatten(state, "", tensors)
        self.store.save(tensors, tree, step=step, final=step == self.total)


class Progress:
    """A progress bar and a log line every `log_every` steps (smoothed loss, speed, ETA)."""

    def __init__(self, what: str, total: int, history: list[float], log_every: int) -> None:
        self.what, self.total, self.log_every = what, total, log_every
        self.done = len(history)
        self.running = 0.0
        for index, value in enumerate(history):
            self._smooth(index, value)
        self.start = time.perf_counter()
        self.bar = tqdm(total=total, initial=self.done, desc=f"train {what}", unit="step",
                        mininterval=2.0)

    def _smooth(self, index: int, value: float) -> None:
        """The running loss: an exponential average of the batch losses."""
        self.running = value if index == 0 else 0.98 * self.running + 0.02 * value

    def update(self, step: int, loss: float, lr: float) -> None:
        """Record step `step` (1-based) and its batch loss; log when due."""
        self._smooth(step - 1, loss)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{self.running:.4f}")
        if step % self.log_every == 0 or step == self.total:
            rate = (step - self.done) / (time.perf_counter() - self.start)
            logger.info("%s step %d/%d: loss %.4f (ema of batch loss), %.2f steps/s, lr %.2e, "
                        "ETA %.0f s", self.what, step, self.total, self.running, rate, lr,
                        (self.total - step) / rate)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
