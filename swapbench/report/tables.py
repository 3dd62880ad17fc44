"""Result files are written atomically (temp file + rename) so a killed run never leaves half a table."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table


def atomic_write(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk fails on write, with no file name: say which file it was
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write(path, frame.to_csv(index=False, float_format="%.6g"))


def write_json(data: dict[str, Any], path: Path) -> None:
    atomic_write(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_fmt(row[c], digits) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def interval_columns(frame: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """X_lo / X_hi column pairs shown as one "X 95% CI" text column "[lo, hi]" after X_std (or X_mean)."""
    out = frame.copy()
    for stat in ("spearman", "kendall"):
        lo, hi = f"{stat}_lo", f"{stat}_hi"
        if lo not in out.columns or hi not in out.columns:
            continue
        text = [("–" if math.isnan(a) or math.isnan(b) else f"[{a:.{digits}f}, {b:.{digits}f}]")
                for a, b in zip(out[lo].astype(float), out[hi].astype(float), strict=True)]
        anchor = f"{stat}_std" if f"{stat}_std" in out.columns else f"{stat}_mean"
        out.insert(list(out.columns).index(anchor) + 1, f"{stat} 95% CI", text)
        out = out.drop(columns=[lo, hi])
    return out


def summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    """A summary as tables show it: intervals as text, and `at_ceiling` only where some metric has a ceiling."""
    if "at_ceiling" in summary.columns and summary["at_ceiling"].isna().all():
        summary = summary.drop(columns="at_ceiling")
    return interval_columns(summary)


def summary_markdown(summary: pd.DataFrame, title: str) -> str:
    return f"# {title}\n\n" + markdown_table(summary_view(summary))


def rich_table(frame: pd.DataFrame, title: str, digits: int = 3) -> Table:
    table = Table(title=title)
    for col in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[col])
        table.add_column(col, justify="right" if numeric else "left")
    for _, row in frame.iterrows():
        table.add_row(*(_fmt(row[c], digits) for c in frame.columns))
    return table
