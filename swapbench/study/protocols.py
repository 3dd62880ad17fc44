"""Named protocols: the settings under which a published number was measured, as one name.

A protocol fixes the batch (size and how it is drawn) and metric options; explicit flags (`--batch-size`,
`--batch-policy`, `--repeats`, `--option`) override it. What a protocol resolves to is part of every score's
cache key (batch size, batch policy and options are), so scores of two protocols never mix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from swapbench.errors import SwapbenchError


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    batch_size: int | None = None  # None: the task's NAS-Bench-Suite-Zero batch (64; 32 for TNB101)
    batch_policy: str = "fixed"
    proxy_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    space_variants: Mapping[str, str] = field(default_factory=dict)  # space -> the network this protocol scores

    def options_for(self, proxy: str) -> dict[str, Any]:
        return dict(self.proxy_options.get(proxy, {}))

    def space_for(self, space: str) -> str:
        return self.space_variants.get(space, space)

    def batch_for(self, task_batch_size: int, batch_size: int | None = None,
                  batch_policy: str | None = None) -> tuple[int, str]:
        """(batch size, batch policy): the explicit values, else the protocol's, else the task's batch size."""
        from swapbench.data.images import BATCH_POLICIES

        policy = batch_policy or self.batch_policy
        if policy not in BATCH_POLICIES:
            raise SwapbenchError(f"unknown batch policy '{policy}'; use {', '.join(BATCH_POLICIES)}")
        size = batch_size or self.batch_size or task_batch_size
        if size < 1:
            raise SwapbenchError("--batch-size must be >= 1")
        return size, policy


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("paper", "the paper's stated setting: NAS-Bench-Suite-Zero's batch (64; 32 for TNB101), one "
                          "fixed batch per seed, 1 re-initialisation, the regulariser of Eq. 5 as printed"),
        Protocol("swap-official", "the official SWAP code (correlation.py): the first 16 training images in file "
                                  "order, no augmentation; SWAP averaged over 32 Gaussian re-initialisations; the "
                                  "regulariser in the code's form exp(-(Theta-mu)^2/sigma); on the DARTS space, "
                                  "the code's one-cell network (darts-swap)",
                 batch_size=16, batch_policy="first",
                 proxy_options={"swap": {"repeats": 32}, "reg_swap": {"repeats": 32, "form": "code"}},
                 space_variants={"darts": "darts-swap"}),
        Protocol("nbsz", "NAS-Bench-Suite-Zero's harness as its stored scores show it: batch 32, a fresh augmented "
                         "batch per architecture from the first 70 % of the training split",
                 batch_size=32, batch_policy="per-arch"),
    )
}
DEFAULT_PROTOCOL = "paper"


def get_protocol(name: str | None) -> Protocol:
    name = name or DEFAULT_PROTOCOL
    if name not in PROTOCOLS:
        raise SwapbenchError(f"unknown protocol '{name}'; choose from {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
