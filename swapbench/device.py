"""Device selection: `auto` picks CUDA when present, never requires it."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

import torch

from swapbench.errors import SwapbenchError


def resolve_device(name: str) -> torch.device:
    name = name.lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SwapbenchError("--device cuda requested but no CUDA GPU is visible; use --device cpu or auto")
        return torch.device(name)
    raise SwapbenchError(f"unknown device '{name}'; use auto, cpu or cuda")


def set_deterministic() -> None:
    """Same settings as NAS-Bench-Suite-Zero: deterministic cuDNN, no autotuning."""
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def _libc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, where the C library has it (Linux with glibc); None elsewhere."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _libc_trim() if sys.platform.startswith("linux") else None


def release_memory() -> None:
    """Give the freed heap back to the OS after an architecture. CPU tensors come from glibc's malloc,
    which keeps freed blocks for reuse: without this a worker's resident memory stays at the largest network
    it has scored so far instead of following the network in hand (a few ms per call)."""
    if _TRIM is not None:
        _TRIM(0)
