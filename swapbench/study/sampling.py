"""Deterministic architecture sampling: the same seed always selects the same rows."""

from __future__ import annotations

import numpy as np


def sample_indices(population: int, n: int, seed: int) -> list[int]:
    """n distinct row indices of a table with `population` rows, in sampled order: the first n of one
    seeded permutation of the whole table. Samples therefore nest: for a seed, the sample of n is the first
    n of the sample of any larger n, so a quick run's scores are all reused by the full run."""
    order = np.random.default_rng(seed).permutation(population)
    return [int(i) for i in order[:n]]
