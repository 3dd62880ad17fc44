"""What several benchmark scripts share: where result tables go, how one is written and shown, and the rank
correlation they report (the engine's, so that a bench's numbers and a run's numbers agree)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from swapbench.study.stats import rank_correlations

RESULTS = Path(__file__).resolve().parent / "results"


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman over the pairs where both values are numbers (NaN = not applicable, which the engine leaves
    out too); NaN for fewer than 3 pairs or constant scores."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    return rank_correlations(a[ok], b[ok])[0]


def write_result(frame: pd.DataFrame, name: str, shown: pd.DataFrame | None = None,
                 out_dir: Path = RESULTS) -> Path:
    """OUT_DIR/NAME with 4 decimals, echoed (or `shown`) to the console with 3."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    frame.to_csv(path, index=False, float_format="%.4f")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print((frame if shown is None else shown).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {path}")
    return path


def write_rows(path: Path, rows: list[dict]) -> Path:
    """Rows of dicts as a CSV at PATH, columns in the first row's order, values as Python prints them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")
    return path
