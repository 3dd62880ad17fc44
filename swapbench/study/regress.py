"""Regression check of a stored study: rerun its exact config and compare every cell with the stored
summary. The rerun uses a fresh cache by default, so a changed metric definition shows up."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from swapbench.errors import SwapbenchError
from swapbench.study.config import StudyConfig


def load_stored(directory: str | Path) -> tuple[StudyConfig, dict[str, Any], pd.DataFrame]:
    directory = Path(directory)
    meta_path, summary_path = directory / "run.json", directory / "summary.csv"
    if not meta_path.is_file() or not summary_path.is_file():
        raise SwapbenchError(f"{directory} is not a stored study (needs run.json and summary.csv from "
                             "`swapbench study`)")
    meta = json.loads(meta_path.read_text())
    if "study" not in meta:
        raise SwapbenchError(f"{meta_path} was not written by `swapbench study`; nothing to rerun")
    study = StudyConfig.from_dict(meta["study"], str(meta_path))
    return study, meta.get("run", {}), pd.read_csv(summary_path)


def moved_cells(stored: pd.DataFrame, fresh: pd.DataFrame, tolerance: float,
                value: str = "spearman_mean") -> pd.DataFrame:
    """Every (space, task, proxy) whose value moved by more than `tolerance`, appeared, vanished, or
    changed between a number and NaN."""
    keys = ["space", "task", "proxy"]
    both = stored[keys + [value]].merge(fresh[keys + [value]], on=keys, how="outer",
                                        suffixes=("_stored", "_now"), indicator=True)
    rows = []
    for _, r in both.iterrows():
        old, new = r[f"{value}_stored"], r[f"{value}_now"]
        if r["_merge"] != "both":
            reason = "missing now" if r["_merge"] == "left_only" else "new cell"
        elif math.isnan(old) != math.isnan(new):
            reason = "NaN changed"
        elif not math.isnan(old) and abs(new - old) > tolerance:
            reason = f"|Δ| > {tolerance:g}"
        else:
            continue
        rows.append(dict(space=r["space"], task=r["task"], proxy=r["proxy"], stored=old, now=new,
                         delta=new - old if r["_merge"] == "both" else float("nan"), reason=reason))
    return pd.DataFrame(rows, columns=["space", "task", "proxy", "stored", "now", "delta", "reason"])
