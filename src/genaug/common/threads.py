"""torch's intra-op thread count, changed for a block of work and restored after it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` torch threads, then restore the previous count (None: no change).

    The count changes float reduction order, so CPU results are bit-identical only for the
    same count: a node that sets it must not leave it set for the nodes after it.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
