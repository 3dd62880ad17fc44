"""The README's validation table from bench/results/validate_nb201_{task}.csv (written by bench.validate_proxies).

One row per metric; per task ρ(ours, stored) and ρ(ours, acc) / ρ(stored, acc) / Δ, with Δ marked in bold
where it misses the ≤ 0.05 bar. Run: python -m bench.validation_table [--results DIR]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from bench.common import RESULTS

TASKS = {"cifar10": "C10", "cifar100": "C100", "ImageNet16-120": "IN16"}
BAR = 0.05


def _f(v: float) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def table(frames: dict[str, pd.DataFrame]) -> str:
    names = list(TASKS.values())
    head = (["metric"] + [f"{t} ρ(ours, stored)" for t in names]
            + [f"{t} ρ(ours, acc) / stored / Δ" for t in names])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    metrics = list(dict.fromkeys(m for f in frames.values() for m in f.index))
    for m in metrics:
        vs_stored, vs_acc = [], []
        for task in TASKS:
            row = frames[task].loc[m] if task in frames and m in frames[task].index else None
            if row is None:
                vs_stored.append("—")
                vs_acc.append("—")
                continue
            vs_stored.append(_f(row.spearman_ours_stored))
            if pd.isna(row.spearman_stored_acc):
                vs_acc.append(_f(row.spearman_ours_acc))
            else:
                delta = _f(row.abs_diff)
                vs_acc.append(f"{_f(row.spearman_ours_acc)} / {_f(row.spearman_stored_acc)} / "
                              + (f"**{delta}**" if row.abs_diff > BAR else delta))
        lines.append("| " + " | ".join([m] + vs_stored + vs_acc) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    frames = {}
    for task in TASKS:
        path = args.results / f"validate_nb201_{task}.csv"
        if path.exists():
            frames[task] = pd.read_csv(path).set_index("metric")
    if not frames:
        raise SystemExit(f"no validate_nb201_*.csv in {args.results}")
    sizes = ", ".join(f"{TASKS[t]} {int(f['n'].max())}" for t, f in frames.items())
    print(f"Architectures per task: {sizes}.\n")
    print(table(frames))


if __name__ == "__main__":
    main()
