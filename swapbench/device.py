"""Device selection: `auto` picks CUDA when present, never requires it."""

from __future__ import annotations

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
