"""Reads pickles that hold only numpy arrays and plain containers: no other object is built.

The project's one reader of pickled data (CIFAR's python batches are pickles). A pickle names
the callables it wants called; plain `pickle.load` imports and calls any of them, so a crafted
file runs code. This unpickler resolves a short, fixed list of names and refuses every other.
"""

from __future__ import annotations

import builtins
import io
import pickle
from typing import Any

import numpy as np

# numpy does not export the function its arrays pickle through; an array's own __reduce__ hands
# it over. Python 2 and numpy 1 files name it numpy.core.multiarray, numpy 2 numpy._core.multiarray.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_CONTAINERS = ("dict", "list", "tuple", "set", "frozenset")
# A subclass's find_class receives names as written: Python 2 files say __builtin__, not builtins.
ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(module, name): getattr(builtins, name)
       for module in ("builtins", "__builtin__") for name in _CONTAINERS},
}


class RestrictedPickleError(ValueError):
    """A pickle that names a callable outside `ALLOWED`, or one that is not a readable pickle."""


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler whose globals are only the entries of `ALLOWED`."""

    def find_class(self, module: str, name: str) -> Any:
        """Resolve an allowed name; refuse any other before it is imported."""
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise RestrictedPickleError(
                f"is refused: it would build '{module}.{name}', and only numpy arrays and plain "
                "containers are unpickled (a crafted pickle runs code when loaded)"
            ) from None


def load_arrays(raw: bytes, encoding: str = "bytes") -> Any:
    """Unpickle `raw` admitting only numpy arrays and plain containers (Python 2 str as bytes)."""
    try:
        return _ArrayUnpickler(io.BytesIO(raw), encoding=encoding).load()
    except RestrictedPickleError:
        raise
    except Exception as exc:  # a corrupt stream fails in many ways (EOF, opcodes, numpy state)
        raise RestrictedPickleError(
            f"is not a readable pickle ({type(exc).__name__}: {exc})"
        ) from exc
