"""The in-memory image set every loader returns (its own module so that loaders need not import each other)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

TRAIN_PORTION = 0.7  # NAS-Bench-Suite-Zero samples from the first 70 % of the training set


@dataclass
class ImageSet:
    name: str
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    source: str
    substitute: bool = False
    crop_padding: int = 4

    def __len__(self) -> int:
        return int(self.images.shape[0])
