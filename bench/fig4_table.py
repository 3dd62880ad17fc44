"""The README's every-metric Fig. 4 table from a stored study's gaps.csv: one row per metric, one cell per
column, "ours [95 % interval] / paper", in bold where the paper's value lies inside our interval.

    python -m bench.fig4_table results/fig4
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

SHORT = {"nb101/cifar10": "NB101 C10", "nb201/cifar10": "NB201 C10", "nb201/cifar100": "NB201 C100",
         "nb201/ImageNet16-120": "NB201 IN16", "nb301/cifar10": "NB301 C10"}


def _cell(row: pd.Series) -> str:
    paper = "—" if math.isnan(row.reference) else f"{row.reference:.2f}"
    if math.isnan(row.ours):
        return f"— / {paper}"
    text = f"{row.ours:.2f} [{row.ours_lo:.2f}, {row.ours_hi:.2f}] / {paper}"
    return f"**{text}**" if row.reproduced else text


def table(gaps: pd.DataFrame) -> str:
    gaps = gaps.assign(column=gaps.space + "/" + gaps.task)
    columns = [c for c in SHORT if c in set(gaps.column)] + sorted(set(gaps.column) - set(SHORT))
    order = gaps.groupby("proxy").ours.mean().sort_values(ascending=False, na_position="last").index
    cells = gaps.set_index(["proxy", "column"])
    lines = ["| metric | " + " | ".join(SHORT.get(c, c) for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for proxy in order:
        row = [_cell(cells.loc[(proxy, c)]) if (proxy, c) in cells.index else "—" for c in columns]
        lines.append(f"| {proxy} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(run_dir: str) -> int:
    print(table(pd.read_csv(Path(run_dir) / "gaps.csv")))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
