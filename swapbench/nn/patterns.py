"""Binarised activation patterns: bit packing both ways (per sample, per unit) and exact distinct counting.

Distinct per-unit patterns are counted without the V x S float matrix: each unit's S bits are packed into
ceil(S/64) int64 words (8 samples per byte, bytes viewed as words), distinct words are kept per layer, and
layers are merged at the end. Exact for any S. For S <= TABLE_BITS (the official protocol's 16 images) a
unit's code is an index into a 2^S occupancy table, which replaces the sort behind torch.unique by one
scatter per layer.
"""

from __future__ import annotations

import sys

import torch

_BYTE_WEIGHTS = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8)


def pack_unit_patterns(active: torch.Tensor) -> torch.Tensor:
    """(S, M) bool -> (M, K) int64: row m holds unit m's S bits, sample s at bit s."""
    s, m = active.shape
    words, nbytes = (s + 63) // 64, (s + 7) // 8
    if s % 8:
        active = torch.cat([active, active.new_zeros((nbytes * 8 - s, m))])
    weights = _BYTE_WEIGHTS.to(active.device).view(1, 8, 1)
    packed = (active.view(nbytes, 8, m).to(torch.uint8) * weights).sum(dim=1, dtype=torch.uint8)
    rows = torch.zeros((m, words * 8), dtype=torch.uint8, device=active.device)  # standard strides
    rows[:, :nbytes] = packed.t()
    return rows.view(torch.int64)  # (M, K)


def pack_samples(active: torch.Tensor) -> torch.Tensor:
    """(S, M) bool -> (S, ceil(M/8)) uint8, unit m of sample s at bit m % 8 of byte m // 8."""
    s, m = active.shape
    nbytes = (m + 7) // 8
    padded = torch.zeros((s, nbytes * 8), dtype=torch.uint8, device=active.device)
    padded[:, :m] = active
    return (padded.view(s, nbytes, 8) * _BYTE_WEIGHTS.to(active.device)).sum(dim=2, dtype=torch.uint8)


def unpack_samples(bits: torch.Tensor, units: int) -> torch.Tensor:
    """Inverse of `pack_samples`: (S, ceil(M/8)) uint8 -> (S, M) bool."""
    s, nbytes = bits.shape
    out = bits.unsqueeze(-1).bitwise_and(_BYTE_WEIGHTS.to(bits.device)) != 0
    return out.reshape(s, nbytes * 8)[:, :units]


def unique_rows(codes: torch.Tensor) -> torch.Tensor:
    """The distinct rows of a (M, K) code matrix (a 1-D unique when each row is one word)."""
    if codes.shape[1] == 1:
        return torch.unique(codes.view(-1)).view(-1, 1)
    return torch.unique(codes, dim=0)


def distinct_rows(rows: torch.Tensor) -> int:
    """Number of distinct rows of a 2-D tensor."""
    if rows.shape[0] == 0:
        return 0
    return int(torch.unique(rows, dim=0).shape[0])


TABLE_BITS = 20  # a 2^20-entry table (1 MiB of bools) is cheaper than sorting a layer's codes


class PatternCounter:
    """Streaming count of distinct per-unit patterns across the S samples of a batch."""

    def __init__(self) -> None:
        self._parts: list[torch.Tensor] = []
        self._table: torch.Tensor | None = None

    def add(self, activation: torch.Tensor) -> None:
        """Add one layer's output (S, ...); a unit is active for a sample when its value is > 0."""
        active = activation.detach().reshape(activation.shape[0], -1) > 0
        codes = pack_unit_patterns(active)
        if active.shape[0] <= TABLE_BITS and sys.byteorder == "little":  # word value = the S bits
            if self._table is None:
                self._table = torch.zeros(1 << active.shape[0], dtype=torch.bool, device=codes.device)
            self._table[codes.view(-1)] = True  # one word per unit, < 2^S
            return
        self._parts.append(unique_rows(codes))

    def count(self) -> int:
        if self._table is not None:
            return int(self._table.sum())
        if not self._parts:
            return 0
        if len(self._parts) > 1:
            self._parts = [unique_rows(torch.cat(self._parts, dim=0))]
        return int(self._parts[0].shape[0])


def naive_count(activations: list[torch.Tensor]) -> int:
    """Psi the official SWAP code's way (concatenate float activations, sign, transpose, unique rows): the
    reference `count_patterns` must equal, at its V x S float memory cost."""
    s = activations[0].shape[0]
    matrix = torch.cat([a.reshape(s, -1) for a in activations], dim=1)
    return int(torch.unique(torch.sign(matrix).t(), dim=0).shape[0])
