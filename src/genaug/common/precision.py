"""Numeric precision of training: `auto` = bf16 autocast (fp32 weights and optimizer) where the
hardware runs bf16 natively, fp32 elsewhere; and channels_last for convolutions.

bf16 is native on CUDA GPUs that report it and on CPUs with AVX512-BF16 or AMX (read from the
kernel's CPU flags; other systems count as without). Autocast wraps the forward pass and the
loss only: wrapping a whole training loop in one outer autocast does not learn (see
`training_loop.run_phase`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX flags in /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no flags to read, so no claim of native bf16
        return False
    flags = {flag for line in text.splitlines() if line.startswith("flags")
             for flag in line.partition(":")[2].split()}
    return any(flag in flags for flag in _CPU_BF16_FLAGS)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bf16 matmuls and convolutions natively."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


_LOGGED: set[tuple[str, str]] = set()


def resolve_precision(precision: str, device: torch.device) -> str:
    """`fp32` or `bf16`: `auto` picks bf16 where `device` runs it natively (logged once)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    chosen = "bf16" if native_bf16(device) else "fp32"
    if (device.type, chosen) not in _LOGGED:
        _LOGGED.add((device.type, chosen))
        logger.info("precision auto -> %s on %s (%s)", chosen, device.type,
                    "native bf16" if chosen == "bf16" else "no native bf16")
    return chosen


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` for a resolved `bf16`, a no-op context for `fp32`."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(channels_last: bool) -> torch.memory_format:
    """The memory format of 4-D activations and conv weights."""
    return torch.channels_last if channels_last else torch.contiguous_format



@contextlib.contextmanager
def cuda_math(precision: str, device: torch.device) -> Iterator[None]:
    """On CUDA: TF32 tensor cores for the fp32 matmuls and convolutions left outside autocast
    when the run's precision is bf16 (`auto` on a GPU), strict IEEE fp32 when it is fp32; the
    previous settings restored on exit. Elsewhere nothing changes."""
    if device.type != "cuda":
        yield
        return
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    saved = matmul.fp32_precision, conv.fp32_precision
    matmul.fp32_precision = conv.fp32_precision = "tf32" if precision == "bf16" else "ieee"
    try:
        yield
    finally:
        matmul.fp32_precision, conv.fp32_precision = saved
