"""Deterministic architecture sampling: the same seed always selects the same rows."""

from __future__ import annotations

import numpy as np


def sample_indices(population: int, n: int, seed: int) -> list[int]:
    """n distinct row indices of a table with `population` rows, in sampled order. A whole table comes
    back in a seeded order too, so a prefix of any sample is a random subset."""
    rng = np.random.default_rng(seed)
    if n >= population:
        return [int(i) for i in rng.permutation(population)]
    return [int(i) for i in rng.choice(population, size=n, replace=False)]
