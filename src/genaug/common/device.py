"""Device selection: `auto` picks cuda, then mps, then cpu."""

from __future__ import annotations

import torch

from genaug.common.validation import ParameterError

_KNOWN = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto", *, parameter: str = "device") -> torch.device:
    """Turn a device parameter (`auto`, `cpu`, `cuda`, `cuda:1`, `mps`) into a torch.device."""
    if not isinstance(name, str) or name.split(":")[0] not in _KNOWN:
        raise ParameterError(parameter, f"one of {', '.join(_KNOWN)} (optionally 'cuda:N')", name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(parameter, "a device that exists here (no CUDA GPU is visible)", name)
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ParameterError(parameter, "a device that exists here (MPS is not available)", name)
    return torch.device(name)
