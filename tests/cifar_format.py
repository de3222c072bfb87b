"""The CIFAR python format, written the way the official archives were (Python 2 cPickle,
protocol 2, numpy 1), so tests read folders in the real format without the real data."""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np


def _opcodes(obj: object) -> bytes:
    """Protocol-2 opcodes for `obj` as Python 2 wrote them: str (here bytes) as BINSTRING."""
    if obj is None:
        return pickle.NONE
    if isinstance(obj, bytes):
        size = bytes([len(obj)]) if len(obj) < 256 else struct.pack("<i", len(obj))
        return (pickle.SHORT_BINSTRING if len(obj) < 256 else pickle.BINSTRING) + size + obj
    if isinstance(obj, int):
        return pickle.BININT + struct.pack("<i", obj)
    if isinstance(obj, tuple):
        return pickle.MARK + b"".join(map(_opcodes, obj)) + pickle.TUPLE
    if isinstance(obj, list):
        return pickle.EMPTY_LIST + pickle.MARK + b"".join(map(_opcodes, obj)) + pickle.APPENDS
    if isinstance(obj, dict):
        items = b"".join(_opcodes(k) + _opcodes(v) for k, v in obj.items())
        return pickle.EMPTY_DICT + pickle.MARK + items + pickle.SETITEMS
    assert isinstance(obj, np.ndarray) and obj.dtype == np.uint8
    # numpy 1's ndarray.__reduce__: _reconstruct(ndarray, (0,), 'b'), then __setstate__ with
    # (version, shape, dtype, fortran, raw bytes); the dtype likewise dtype('u1', 0, 1) + state.
    dtype = (pickle.GLOBAL + b"numpy\ndtype\n" + _opcodes((b"u1", 0, 1)) + pickle.REDUCE
             + _opcodes((3, b"|", None, None, None, -1, -1, 0)) + pickle.BUILD)
    return (pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n"
            + pickle.GLOBAL + b"numpy\nndarray\n" + _opcodes((0,)) + _opcodes(b"b")
            + pickle.TUPLE3 + pickle.REDUCE + pickle.MARK + _opcodes(1) + _opcodes(obj.shape)
            + dtype + pickle.NEWFALSE + _opcodes(obj.tobytes()) + pickle.TUPLE + pickle.BUILD)


def py2_pickle(obj: object) -> bytes:
    """`obj` pickled the way CIFAR's files were (Python 2 cPickle, protocol 2, numpy 1)."""
    return pickle.PROTO + b"\x02" + _opcodes(obj) + pickle.STOP


def write_cifar10_folder(root: Path, class_names: list[str], train_per_class: int,
                         test_per_class: int) -> dict[str, str]:
    """A cifar-10-batches-py/ under `root` with class-balanced random images; its SHA-256s."""
    rng = np.random.default_rng(0)
    k = len(class_names)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {f"data_batch_{i}": train_per_class * k // 5 for i in range(1, 6)}
    sizes["test_batch"] = test_per_class * k
    files: dict[str, dict[bytes, object]] = {}
    for name, size in sizes.items():
        labels = [index % k for index in range(size)]
        files[name] = {b"batch_label": name.encode(), b"labels": labels,
                       b"data": rng.integers(0, 256, (size, 3072), dtype=np.uint8),
                       b"filenames": [f"{name}_{i}.png".encode() for i in range(size)]}
    files["batches.meta"] = {b"num_cases_per_batch": sizes["data_batch_1"], b"num_vis": 3072,
                             b"label_names": [n.encode() for n in class_names]}
    for name, content in files.items():
        (folder / name).write_bytes(py2_pickle(content))
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in files}
