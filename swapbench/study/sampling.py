"""Deterministic architecture sampling: the same seed always selects the same rows."""

from __future__ import annotations

import numpy as np


def sample_indices(population: int, n: int, seed: int) -> list[int]:
    """n distinct row indices of a table with `population` rows, in sampled order."""
    if n >= population:
        return list(range(population))
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(population, size=n, replace=False)]
