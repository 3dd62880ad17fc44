"""Stored runs as a source of scores: the scores a run directory holds, keyed the way the score cache keys
them, so that a committed run resumes on another machine (the cache itself is never committed).

A run directory (see report.run) stores `run.json` with each column's cache key per metric and
`scores.csv.gz` with every score at full precision; together they give back the cache rows the run was
gathered from. Keys hash only what changes a score (metric options, protocol settings, image set by name
and size, device type; see config.score_key), so they are the same on every machine. `scores.csv.gz` names
each architecture as the truth table does; the cache names it by the space's canonical key (NB101's pruned
spec, for one), so every stored name is parsed and re-keyed on the way in.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from swapbench.errors import SwapbenchError
from swapbench.spaces import get_space

META = "run.json"
SCORES = "scores.csv.gz"


@dataclass
class Imported:
    """What one run directory gave the cache."""

    directory: Path
    rows: int = 0  # scores found with a cache key
    added: int = 0  # of those, the ones the cache did not hold yet
    notices: list[str] = field(default_factory=list)  # what was left out, and why


def stored_rows(directory: str | Path) -> tuple[list[tuple[str, int, str, float, float]], list[str]]:
    """(key, seed, arch, score, seconds) for every stored score whose column and metric have a cache key in
    run.json; seconds is the column's mean per architecture for that metric (0 when not recorded). The
    notices name what had no key (runs stored before keys were recorded, legacy layouts)."""
    directory = Path(directory)
    meta_path, scores_path = directory / META, directory / SCORES
    if not directory.is_dir():
        raise SwapbenchError(f"{directory} is not a directory")
    if not meta_path.is_file() or not scores_path.is_file():
        return [], [f"{directory}: not a stored run with scores (needs {META} and {SCORES}); skipped"]
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise SwapbenchError(f"{meta_path} is not valid JSON ({exc})") from None
    keys: dict[tuple[str, str], str] = {}
    seconds: dict[tuple[str, str], float] = {}
    for column in meta.get("columns") or []:
        for metric, key in (column.get("cache_keys") or {}).items():
            keys[(column["column"], metric)] = key
            seconds[(column["column"], metric)] = float((column.get("per_metric_seconds") or {}).get(metric, 0.0))
    if not keys:
        return [], [f"{directory}: {META} records no cache keys (a run stored before they were kept); skipped"]
    try:
        scores = pd.read_csv(scores_path, dtype={"arch": str, "proxy": str, "space": str, "task": str})
    except (OSError, ValueError, EOFError) as exc:
        raise SwapbenchError(f"{scores_path} cannot be read ({exc})") from None
    missing = {"space", "task", "seed", "arch", "proxy", "score"} - set(scores.columns)
    if missing:
        raise SwapbenchError(f"{scores_path} lacks the column(s) {', '.join(sorted(missing))}")
    rows, unkeyed, unparsed = [], set(), set()
    for space, task, seed, arch, metric, value in scores[["space", "task", "seed", "arch", "proxy", "score"]] \
            .itertuples(index=False):
        where = (f"{space}/{task}", metric)
        if where not in keys:
            unkeyed.add(where)
            continue
        arch_key = _canonical_key(space, arch)
        if arch_key is None:
            unparsed.add(space)
            continue
        value = float(value)
        rows.append((keys[where], int(seed), arch_key, math.nan if value != value else value, seconds[where]))
    notices = [f"{directory}: no cache key for {column} {metric}; its scores skipped"
               for column, metric in sorted(unkeyed)]
    notices += [f"{directory}: architecture names that space {space} cannot read; their scores skipped"
                for space in sorted(unparsed)]
    return rows, notices


@lru_cache(maxsize=65536)  # a run stores every architecture once per seed and metric
def _canonical_key(space: str, arch: str) -> str | None:
    """The cache's name for a stored architecture name, or None when the space cannot read it."""
    try:
        sp = get_space(space)
        return sp.canonical_key(sp.parse(arch))
    except SwapbenchError:
        return None

