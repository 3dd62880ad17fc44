"""Ground-truth tables: NAS-Bench-Suite-Zero `zc_*.json`, the space's built-in CSVs, or a user CSV.

A TruthTable keeps each architecture's key exactly as written in its source (that is what
`scores.csv` reports) next to the decoded architecture.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from swapbench.errors import DataError, EncodingError, SwapbenchError
from swapbench.spaces.base import JsonListTruth, SearchSpace

NBSZ_DIR = "nas-bench-suite-zero"
DEFAULT_TRUTH = "nbsz"


@dataclass
class TruthTable:
    """A ground-truth table; `stored` holds, per metric, the peer's stored score of each row (NaN where an
    entry lacks it), so ours can be compared with theirs on the same architectures."""

    name: str
    source: str
    space: str
    task: str
    keys: list[str]
    archs: list[Hashable]
    accuracy: np.ndarray
    substitute: bool = False
    stored: dict[str, np.ndarray] = field(default_factory=dict)  # peer's stored proxy scores
    notices: list[str] = field(default_factory=list)  # what validation dropped or merged

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def empty(cls) -> TruthTable:
        """No ground truth: for scoring given architectures."""
        return cls("none", "", "", "", [], [], np.zeros(0))


def _value(entry: Any) -> float:
    """NB-SZ stores a proxy value as a number or as {score, time}."""
    if isinstance(entry, dict):
        entry = entry.get("score")
    try:
        return float(entry)
    except (TypeError, ValueError):
        return math.nan


@lru_cache(maxsize=8)
def load_json(path: str) -> Any:
    file = Path(path)
    if not file.exists():
        from swapbench.data.sources import missing_hint

        raise DataError(f"benchmark table {file} is missing; {missing_hint(file)}")
    try:
        with open(file) as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        from swapbench.data.sources import missing_hint

        raise DataError(f"benchmark table {file} is not valid JSON ({exc.msg} at line {exc.lineno}); "
                        f"{missing_hint(file, again=True)}") from None


def nbsz_task_dict(space: SearchSpace, task: str, data_dir: Path) -> dict[str, Any]:
    path = data_dir / NBSZ_DIR / space.nbsz_file
    data = load_json(str(path))
    node = data
    for part in space.nbsz_prefix:
        if not isinstance(node, dict) or part not in node:
            raise DataError(f"{path} has no '{part}' section; is it a NAS-Bench-Suite-Zero table?")
        node = node[part]
    if not isinstance(node, dict) or task not in node:
        found = ", ".join(node) if isinstance(node, dict) else "nothing"
        raise DataError(f"{path} has no task '{task}' (found: {found})")
    entries = node[task]
    if not isinstance(entries, dict):
        raise DataError(f"{path}: task '{task}' holds a {type(entries).__name__}, not a table of architectures "
                        "(encoding -> {val_accuracy, ...}); is it a NAS-Bench-Suite-Zero table? Re-fetch it with "
                        "`swapbench data fetch nbsz --force`")
    return entries


def _decode_all(space: SearchSpace, keys: list[str], data_dir: Path, source: str) -> list[Hashable]:
    archs = []
    for key in keys:
        try:
            archs.append(space.parse(key, data_dir))
        except EncodingError as exc:
            raise EncodingError(f"{source}: {exc}") from None
    return archs


def load_nbsz(space: SearchSpace, task: str, data_dir: Path) -> TruthTable:
    entries = nbsz_task_dict(space, task, data_dir)
    keys, acc = [], []
    stored: dict[str, dict[int, float]] = {}
    for row, (key, entry) in enumerate(entries.items()):
        if not isinstance(entry, dict) or "val_accuracy" not in entry:
            raise DataError(f"{space.nbsz_file}: entry {key!r} has no val_accuracy")
        keys.append(key)
        acc.append(_value(entry["val_accuracy"]))
        for name, value in entry.items():
            if name not in ("idx", "arch", "val_accuracy"):
                stored.setdefault(name, {})[row] = _value(value)
    source = str(data_dir / NBSZ_DIR / space.nbsz_file)
    return TruthTable(
        name=DEFAULT_TRUTH,
        source=source,
        space=space.name,
        task=task,
        keys=keys,
        archs=_decode_all(space, keys, data_dir, source),
        accuracy=np.asarray(acc, dtype=float),
        # a metric missing for some entries is kept, with NaN there
        stored={k: np.array([v.get(i, np.nan) for i in range(len(keys))]) for k, v in stored.items()},
    )


def load_csv(
    space: SearchSpace, task: str, path: Path, arch_column: str, acc_column: str, name: str, data_dir: Path
) -> TruthTable:
    if not path.exists():
        from swapbench.data.sources import missing_hint

        hint = missing_hint(path, "")
        raise DataError(f"truth table {path} does not exist" + (f"; {hint}" if hint else ""))
    try:
        frame = pd.read_csv(path, dtype={arch_column: str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read truth table {path} as CSV: {exc}") from None
    for column, flag in ((arch_column, "--arch-column"), (acc_column, "--acc-column")):
        if column not in frame.columns:
            raise DataError(f"{path} has no column '{column}' (columns: {', '.join(frame.columns)}); set {flag}")
    notices = []
    blank = int(frame[arch_column].isna().sum())
    if blank:
        notices.append(f"{path}: skipped {blank} row(s) with an empty '{arch_column}'")
        frame = frame.dropna(subset=[arch_column])
    keys = frame[arch_column].astype(str).tolist()
    # text such as "n/a" becomes NaN and is counted (and dropped) by validate_truth, not silently
    acc = pd.to_numeric(frame[acc_column], errors="coerce").to_numpy(dtype=float)
    return TruthTable(
        name=name,
        source=str(path),
        space=space.name,
        task=task,
        keys=keys,
        archs=_decode_all(space, keys, data_dir, str(path)),
        accuracy=acc,
        notices=notices,
    )


def load_json_list(space: SearchSpace, task: str, spec: JsonListTruth, name: str, data_dir: Path) -> TruthTable:
    """A truth split over JSON files, each a list of records with an arch and an accuracy field."""
    pattern = spec.pattern.format(task=task)
    files = sorted(data_dir.glob(pattern))
    if not files:
        raise DataError(f"truth '{name}' needs {data_dir / pattern} (no such files)")
    keys, acc = [], []
    for file in files:
        records = load_json(str(file))
        if not isinstance(records, list):
            raise DataError(f"{file} is not a JSON list of records")
        for rec in records:
            if not isinstance(rec, dict) or spec.arch_field not in rec or spec.acc_field not in rec:
                raise DataError(f"{file}: a record lacks '{spec.arch_field}' or '{spec.acc_field}'")
            keys.append(str(rec[spec.arch_field]))
            acc.append(_value(rec[spec.acc_field]))
    source = str(data_dir / pattern)
    return TruthTable(name=name, source=source, space=space.name, task=task, keys=keys,
                      archs=_decode_all(space, keys, data_dir, source), accuracy=np.asarray(acc, dtype=float))


MIN_USABLE_ROWS = 3  # a rank correlation needs at least three architectures


def validate_truth(space: SearchSpace, table: TruthTable, strict: bool = True) -> TruthTable:
    """Check a truth table before any work: rows without a finite accuracy are dropped (counted in a notice);
    architectures that occur more than once after canonicalising their encoding are merged when their
    accuracies agree; when they differ, a user's table (`strict`) is refused, naming them, while a published
    benchmark table, which the user cannot fix, gets their mean accuracy and a notice (NAS-Bench-Suite-Zero's
    NB101 table holds such rows: one network, a different training run each). Fewer than three usable rows,
    or one accuracy for all, is refused: no rank correlation can be computed from it."""
    acc = np.asarray(table.accuracy, dtype=float).copy()
    notices = list(table.notices)
    finite = np.isfinite(acc)
    if not finite.all():
        notices.append(f"{table.source}: dropped {int((~finite).sum())} of {len(acc)} row(s) whose accuracy is "
                       "missing, not a number or infinite")
    rows_of: dict[str, list[int]] = {}
    for row in np.flatnonzero(finite):
        rows_of.setdefault(space.canonical_key(table.archs[row]), []).append(int(row))
    repeated = [rows for rows in rows_of.values() if len(rows) > 1]
    conflicts = [rows for rows in repeated if len({acc[r] for r in rows}) > 1]
    if conflicts and strict:
        shown = "; ".join(" = ".join(f"{table.keys[r]!s} ({acc[r]:g})" for r in rows) for rows in conflicts[:3])
        raise DataError(f"{table.source}: {len(conflicts)} architecture(s) occur more than once with different "
                        f"accuracies: {shown}{' ...' if len(conflicts) > 3 else ''}; keep one row per architecture")
    if conflicts:
        for rows in conflicts:
            acc[rows[0]] = float(np.mean(acc[rows]))
        notices.append(f"{table.source}: {sum(map(len, conflicts))} rows are {len(conflicts)} architecture(s) "
                       "listed several times with different accuracies; each is scored once, with its mean accuracy")
    identical = sum(len(rows) - 1 for rows in repeated if rows not in conflicts)
    if identical:
        notices.append(f"{table.source}: merged {identical} duplicate row(s) of the same architecture "
                       "(same accuracy)")
    keep = sorted(rows[0] for rows in rows_of.values())
    if len(keep) < MIN_USABLE_ROWS:
        raise DataError(f"{table.source}: only {len(keep)} usable row(s) for {table.space}/{table.task}; a rank "
                        f"correlation needs at least {MIN_USABLE_ROWS} architectures with a finite accuracy")
    if np.ptp(acc[keep]) == 0:
        raise DataError(f"{table.source}: every accuracy is {acc[keep[0]]:g}; a rank correlation with a constant "
                        "is undefined (wrong --acc-column?)")
    index = np.asarray(keep)
    return TruthTable(name=table.name, source=table.source, space=table.space, task=table.task,
                      keys=[table.keys[r] for r in keep], archs=[table.archs[r] for r in keep],
                      accuracy=acc[index], substitute=table.substitute,
                      stored={k: v[index] for k, v in table.stored.items()}, notices=notices)


def truth_names(space: SearchSpace) -> list[str]:
    return [DEFAULT_TRUTH, *space.extra_truths]


def load_truth(
    space: SearchSpace,
    task: str,
    data_dir: Path,
    truth: str | None = None,
    arch_column: str | None = None,
    acc_column: str | None = None,
) -> TruthTable:
    """`truth` is a built-in name (see `truth_names`) or the path of a user CSV; validated either way (a
    user's CSV strictly: see `validate_truth`)."""
    builtin = (truth or DEFAULT_TRUTH) in truth_names(space)
    table = _load_truth(space, task, data_dir, truth, arch_column, acc_column)
    return validate_truth(space, table, strict=not builtin)


def _load_truth(
    space: SearchSpace,
    task: str,
    data_dir: Path,
    truth: str | None,
    arch_column: str | None,
    acc_column: str | None,
) -> TruthTable:
    space.task(task)
    truth = truth or DEFAULT_TRUTH
    if truth == DEFAULT_TRUTH:
        return load_nbsz(space, task, data_dir)
    if truth in space.extra_truths:
        spec = space.extra_truths[truth]
        if isinstance(spec, JsonListTruth):
            if spec.tasks and task not in spec.tasks:
                raise SwapbenchError(f"truth '{truth}' has no task '{task}'")
            return load_json_list(space, task, spec, truth, data_dir)
        if task not in spec.acc_columns:
            raise SwapbenchError(f"truth '{truth}' has no task '{task}'")
        return load_csv(
            space, task, data_dir / spec.path, spec.arch_column, spec.acc_columns[task], truth, data_dir
        )
    path = Path(truth)
    if path.suffix.lower() == ".csv" or path.exists():
        if not arch_column or not acc_column:
            raise SwapbenchError("a user truth CSV needs --arch-column and --acc-column")
        return load_csv(space, task, path, arch_column, acc_column, str(path), data_dir)
    raise SwapbenchError(
        f"unknown truth '{truth}' for space {space.name}; choose {', '.join(truth_names(space))} or a CSV path"
    )
