"""Reproducible randomness: child seeds derived from the global seed (per stage, arm, shard)."""

from __future__ import annotations

import numpy as np


def derive_seed(seed: int, *salt: int | str) -> int:
    """Derive a stable child seed from a parent seed and salts (arm name, shard index, ...)."""
    state = np.random.SeedSequence([seed, *(_salt_to_int(s) for s in salt)])
    return int(state.generate_state(1, dtype=np.uint32)[0])


def _salt_to_int(salt: int | str) -> int:
    """Map a salt to a non-negative int that does not depend on Python's hash seed."""
    if isinstance(salt, int):
        return abs(salt)
    return int.from_bytes(str(salt).encode("utf-8"), "little") % (2**63)
