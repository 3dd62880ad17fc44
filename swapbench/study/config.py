"""The configuration of a correlation run, and the keys that identify its scores in the cache."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# bump when a change to the scoring code changes numbers, so old cached scores are not reused
SCORING_VERSION = 1


@dataclass
class CorrelateConfig:
    space: str
    task: str
    proxies: list[str] = field(default_factory=lambda: ["swap", "reg_swap"])
    n_archs: int = 1000
    limit_archs: int | None = None  # keep the first N of each seed's sample (a prefix of the full run)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    protocol: str = "paper"  # a named preset (swapbench.study.protocols); the fields below override it
    batch_size: int | None = None  # None: the protocol's, else the task's NB-SZ batch (64; 32 for TNB101)
    batch_policy: str | None = None  # None: the protocol's
    repeats: int | None = None  # shortcut for the `repeats` option of every metric that has one
    proxy_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    truth: str | None = None
    arch_column: str | None = None
    acc_column: str | None = None
    device: str = "auto"
    data_dir: str | None = None
    out: str = "runs/latest"
    cache: str | None = None  # default: <out>/cache.sqlite
    threads: int | None = None

    def cache_path(self) -> Path:
        return Path(self.cache) if self.cache else Path(self.out) / "cache.sqlite"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_key(
    *,
    space: str,
    task: str,
    proxy: str,
    options: dict[str, Any],
    batch_size: int,
    batch_policy: str,
    images: str,
    device_type: str,
) -> tuple[str, dict[str, Any]]:
    """Everything that changes a score, hashed. Truth table and arch sample are not part of it, so
    scores are shared between runs that differ only in those."""
    ident = dict(
        version=SCORING_VERSION,
        space=space,
        task=task,
        proxy=proxy,
        options=options,
        batch_size=batch_size,
        batch_policy=batch_policy,
        images=images,
        device=device_type,
    )
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return digest, ident
