"""What a run scores: one (space, task) column (`CorrelateConfig`), a study of several columns sharing one
cache (`StudyConfig`, from TOML), and the keys that identify scores in the cache."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from swapbench.errors import SwapbenchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_VARIANT = re.compile(r"^(?P<base>[A-Za-z0-9_.-]+)@(?P<h>[0-9]+)x(?P<w>[0-9]+)$")


def split_variant(name: str) -> tuple[str, int | None]:
    """'swap@16x16' -> ('swap', 16): a metric scored on 16x16 inputs made from the run's batch; 'swap' ->
    ('swap', None)."""
    if "@" not in name:
        return name, None
    match = _VARIANT.match(name)
    if not match or match["h"] != match["w"] or int(match["h"]) < 1:
        raise SwapbenchError(f"bad metric variant '{name}'; write METRIC@SxS with a square size, e.g. swap@16x16")
    return match["base"], int(match["h"])


def check_metric(name: str) -> str:
    """A registered metric or a size variant of one (one-line error otherwise)."""
    from swapbench.proxies import list_proxies

    base, _ = split_variant(name)
    if base not in list_proxies():
        raise SwapbenchError(f"unknown proxy '{base}'; choose from: {', '.join(list_proxies())}")
    return name


CACHE_ENV = "SWAPBENCH_CACHE"
DEFAULT_CACHE = "runs/cache.sqlite"


def default_cache() -> Path:
    """The score cache every command shares unless told otherwise: $SWAPBENCH_CACHE, else runs/cache.sqlite
    (relative to the working directory), so scores computed by any command are reused by every other."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


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
    out: str | None = None  # where a caller writes results (not used for scoring)
    cache: str | None = None  # default: default_cache()
    threads: int | None = None
    resize: str = "crop"  # how size variants (`swap@16x16`) make their inputs: crop or bilinear
    checkpointing: str = "auto"  # block checkpointing (memory for time, same scores; grasp's to float rounding)

    def cache_path(self) -> Path:
        return Path(self.cache) if self.cache else default_cache()

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


# --------------------------------------------------------------------------------------------
# studies: several (space, task) columns that share one cache

_STUDY_KEYS = {"name", "description", "proxies", "seeds", "n_archs", "protocol", "batch_policy", "repeats", "options",
               "device", "reference", "out", "cache", "columns", "resize"}
_COLUMN_KEYS = {"space", "task", "truth", "arch_column", "acc_column", "batch_size", "options", "n_archs"}


@dataclass
class Column:
    space: str
    task: str
    truth: str | None = None
    arch_column: str | None = None  # of a truth CSV
    acc_column: str | None = None
    batch_size: int | None = None
    n_archs: int | None = None  # overrides the study's n_archs for this column
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.space}/{self.task}"


@dataclass
class StudyConfig:
    name: str
    columns: list[Column]
    proxies: list[str] = field(default_factory=lambda: ["swap", "reg_swap"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    n_archs: int = 1000
    protocol: str = "paper"
    batch_policy: str | None = None  # None: the protocol's
    repeats: int | None = None
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: str = "auto"
    reference: str | None = None
    out: str | None = None
    cache: str | None = None
    description: str = ""
    resize: str = "crop"  # how size variants (`swap@16x16`) make their inputs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "study config") -> StudyConfig:
        from swapbench.proxies import list_proxies

        unknown = set(data) - _STUDY_KEYS
        if unknown:
            raise SwapbenchError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; "
                                 f"allowed: {', '.join(sorted(_STUDY_KEYS))}")
        if "name" not in data or not data.get("columns"):
            raise SwapbenchError(f"{source}: needs a `name` and at least one [[columns]] table")
        columns = []
        for i, col in enumerate(data["columns"]):
            if not isinstance(col, dict) or "space" not in col or "task" not in col:
                raise SwapbenchError(f"{source}: column {i + 1} needs `space` and `task`")
            bad = set(col) - _COLUMN_KEYS
            if bad:
                raise SwapbenchError(f"{source}: column {i + 1} has unknown key(s) {', '.join(sorted(bad))}")
            columns.append(Column(**col))
        proxies = data.get("proxies", ["swap", "reg_swap"])
        if proxies == "all":
            proxies = list_proxies()
        if isinstance(proxies, str) or not all(isinstance(p, str) for p in proxies):
            raise SwapbenchError(f"{source}: `proxies` must be a list of metric names or \"all\"")
        for name in proxies:
            try:
                check_metric(name)
            except SwapbenchError as exc:
                raise SwapbenchError(f"{source}: {exc}") from None
        seeds = data.get("seeds", [0, 1, 2, 3, 4])
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
            raise SwapbenchError(f"{source}: `seeds` must be a non-empty list of integers")
        kwargs = {k: v for k, v in data.items() if k not in ("columns", "proxies", "seeds")}
        return cls(columns=columns, proxies=list(proxies), seeds=list(seeds), **kwargs)


def load_study(path: str | Path) -> StudyConfig:
    path = Path(path)
    if not path.is_file():
        raise SwapbenchError(f"study config {path} not found")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SwapbenchError(f"{path} is not valid TOML: {exc}") from None
    return StudyConfig.from_dict(data, str(path))


def select_columns(study: StudyConfig, wanted: str | None) -> StudyConfig:
    """Keep the columns named in `wanted`, in the config's order: each name is a column ("nb201/cifar10") or a
    space ("nb201", all of that space's columns), so a script names a group of columns without listing them."""
    if not wanted:
        return study
    names = [w.strip() for w in wanted.split(",") if w.strip()]
    known = [c.label for c in study.columns]
    spaces = {c.space for c in study.columns}
    for name in names:
        if name not in known and name not in spaces:
            raise SwapbenchError(f"column '{name}' is not in study '{study.name}'; its columns: {', '.join(known)} "
                                 f"(or a space: {', '.join(sorted(spaces))})")
    return replace(study, columns=[c for c in study.columns if c.label in names or c.space in names])


def select_proxies(study: StudyConfig, wanted: str | None) -> StudyConfig:
    """Keep the metrics named in `wanted` ("swap,reg_swap"), in the config's order: a cheaper pass over the
    same columns whose scores the full study reuses."""
    if not wanted:
        return study
    names = [w.strip() for w in wanted.split(",") if w.strip()]
    for name in names:
        if name not in study.proxies:
            raise SwapbenchError(f"metric '{name}' is not in study '{study.name}'; its metrics: "
                                 f"{', '.join(study.proxies)}")
    return replace(study, proxies=[p for p in study.proxies if p in names])


def column_configs(study: StudyConfig, *, limit_archs: int | None = None, seeds: list[int] | None = None,
                   data_dir: str | None = None, threads: int | None = None, device: str | None = None,
                   cache: str | None = None, out: str | None = None,
                   protocol: str | None = None, checkpointing: str = "auto") -> list[CorrelateConfig]:
    """One correlate config per column. `limit_archs` keeps the first N of each seed's full sample, so the
    quick run's scores are reused by the full one. `protocol` overrides the config's."""
    if limit_archs is not None and limit_archs < 3:
        raise SwapbenchError("--limit-archs must be at least 3 to compute a rank correlation")
    configs = []
    for col in study.columns:
        bases = {split_variant(p)[0] for p in study.proxies}
        options = {k: dict(v) for k, v in study.options.items() if k in study.proxies or k in bases}
        for proxy, opts in col.options.items():
            options.setdefault(proxy, {}).update(opts)
        configs.append(CorrelateConfig(
            space=col.space, task=col.task, proxies=list(study.proxies), n_archs=col.n_archs or study.n_archs,
            limit_archs=limit_archs, seeds=list(seeds or study.seeds), batch_size=col.batch_size,
            protocol=protocol or study.protocol, batch_policy=study.batch_policy, repeats=study.repeats,
            proxy_options=options, truth=col.truth, arch_column=col.arch_column, acc_column=col.acc_column,
            device=device or study.device, data_dir=data_dir, out=out, cache=cache or study.cache,
            threads=threads, resize=study.resize, checkpointing=checkpointing,
        ))
    return configs


