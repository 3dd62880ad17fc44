"""The README's Fig. 4 tables from stored studies' gaps.csv, in bold where the paper's value lies inside our
95 % interval.

    python -m bench.fig4_table results/fig4             every metric: a row per metric, a cell per column,
                                                        "ours [interval] / paper"
    python -m bench.fig4_table --swap RUN_DIR ...       the SWAP rows: a row per column, swap and reg_swap
                                                        under each run's protocol, "mean ± std over seeds
                                                        [interval]", and the paper's swap / reg_swap
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd

from swapbench.report.heatmap import load_reference
from swapbench.report.run import WITHIN
from swapbench.study.stats import CEILING_MARGIN, CEILING_NOTE

SHORT = {"nb101/cifar10": "NB101 C10", "nb201/cifar10": "NB201 C10", "nb201/cifar100": "NB201 C100",
         "nb201/ImageNet16-120": "NB201 IN16", "nb301/cifar10": "NB301 C10",
         **{f"tnb101_{kind}/{task}": f"TNB-{kind} {label}" for kind in ("micro", "macro")
            for task, label in (("class_scene", "scene"), ("class_object", "object"), ("jigsaw", "jigsaw"),
                                ("autoencoder", "autoenc."))}}

REAL = tuple(label for label in SHORT if not label.startswith("tnb101"))  # the real-image columns
SCOPE = {"swap-official": REAL}  # the columns scripts/reproduce_fig4.sh runs under a protocol (default: all)


def _with_column(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(column=frame.space + "/" + frame.task)


def _ordered(columns: set[str]) -> list[str]:
    """Fig. 4's column order, then any other columns by name."""
    return [c for c in SHORT if c in columns] + sorted(columns - set(SHORT))


def _cell(row: pd.Series) -> str:
    paper = "—" if math.isnan(row.reference) else f"{row.reference:.2f}"
    if math.isnan(row.ours):
        return f"— / {paper}"
    text = f"{row.ours:.2f} [{row.ours_lo:.2f}, {row.ours_hi:.2f}] / {paper}"
    return f"**{text}**" if row.reproduced else text


def table(gaps: pd.DataFrame) -> str:
    gaps = _with_column(gaps)
    columns = _ordered(set(gaps.column))
    order = gaps.groupby("proxy").ours.mean().sort_values(ascending=False, na_position="last").index
    cells = gaps.set_index(["proxy", "column"])
    lines = ["| metric | " + " | ".join(SHORT.get(c, c) for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for proxy in order:
        row = [_cell(cells.loc[(proxy, c)]) if (proxy, c) in cells.index else "—" for c in columns]
        lines.append(f"| {proxy} | " + " | ".join(row) + " |")
    return "\n".join(lines)


CEILING_MARK = "‡"
CEILING_FOOTNOTE = (f"{CEILING_MARK} SWAP within {100 * CEILING_MARGIN:.0f} % of its ceiling (2^S distinct "
                    "patterns at S images) for the share of architectures given: its ranking there rests on near-ties")


def _swap_cell(row: pd.Series, full: int) -> str:
    """One cell; a column with fewer seeds than the table's `full` says how many it has."""
    seeds = int(row.seeds)
    spread = f" ± {row.spearman_std:.3f}" if seeds > 1 else ""  # no spread of one
    after = "" if seeds >= full else f" ({seeds} seed{'s' if seeds > 1 else ''})"
    text = f"{row.ours:.3f}{spread} [{row.ours_lo:.3f}, {row.ours_hi:.3f}]"
    text = (f"**{text}**" if row.reproduced else text) + after
    share = row.get("at_ceiling", float("nan"))
    return f"{text} {CEILING_MARK} {100 * share:.0f} %" if share >= CEILING_NOTE else text  # NaN: no mark


def swap_counts(cells: pd.DataFrame) -> list[str]:
    """Per protocol, how many paper cells lie inside our interval and within ±WITHIN, on the real-image columns
    and on TransNAS-Bench-101 apart (the README's text quotes these counts)."""
    cells = cells.dropna(subset=["ours", "reference"])
    lines = []
    for protocol, group in cells.groupby("protocol", sort=False):
        parts = []
        for name, part in (("NB101/NB201/NB301", group[group.column.isin(REAL)]),
                           ("TransNAS-Bench-101", group[~group.column.isin(REAL)])):
            if len(part):
                parts.append(f"{name} {int(part.reproduced.sum())} of {len(part)} reproduced, "
                             f"{int((part.abs_diff <= WITHIN).sum())} within ±{WITHIN}")
        lines.append(f"`{protocol}`: " + "; ".join(parts) + ".")
    return lines


def swap_table(run_dirs: list[str], reference: str) -> str:
    """SWAP / reg-SWAP per Fig. 4 column (every column of the reference) and protocol, from several runs."""
    frames = []
    for run_dir in map(Path, run_dirs):
        protocol = json.loads((run_dir / "run.json").read_text())["study"]["protocol"]
        gaps = pd.read_csv(run_dir / "gaps.csv")
        summary = pd.read_csv(run_dir / "summary.csv")
        std = summary.reindex(columns=["space", "task", "proxy", "spearman_std", "input", "at_ceiling"])
        frames.append(gaps.merge(std, on=["space", "task", "proxy"]).assign(protocol=protocol))
    rows = _with_column(pd.concat(frames).query("proxy in ('swap', 'reg_swap')"))
    protocols = list(dict.fromkeys(rows.protocol))
    heads = [(p, m) for p in protocols for m in ("swap", "reg_swap")]
    paper = load_reference(reference).query("proxy in ('swap', 'reg_swap')")
    paper = _with_column(paper).set_index(["column", "proxy"]).reference
    columns = _ordered(set(rows.column) | {c for c, _ in paper.index})
    key = ["column", "protocol", "proxy"]
    cells = rows.drop_duplicates(key, keep="last").set_index(key)  # a later run's cell wins
    full = int(cells.seeds.max())
    lines = ["| column | " + " | ".join(f"{m}, `{p}`" for p, m in heads) + " | paper swap / reg_swap |",
             "|---" * (len(heads) + 2) + "|"]
    for column in columns:
        row = [_swap_cell(cells.loc[(column, p, m)], full) if (column, p, m) in cells.index
               else "not run yet" if column in SCOPE.get(p, (column,)) else "—" for p, m in heads]
        row.append(" / ".join(f"{paper[(column, m)]:.2f}" if (column, m) in paper.index else "—"
                              for m in ("swap", "reg_swap")))
        label = SHORT.get(column, column)
        if (rows[rows.column == column].input == "substitute").any():
            label += " (substitute images)"
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    if any(CEILING_MARK in line for line in lines[2:]):
        lines += ["", CEILING_FOOTNOTE]
    lines += ["", *swap_counts(cells.reset_index())]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="the README's Fig. 4 tables from stored studies")
    parser.add_argument("run_dirs", nargs="+", help="study run directories (with gaps.csv)")
    parser.add_argument("--swap", action="store_true", help="the SWAP rows table over several runs")
    parser.add_argument("--reference", default="../shared/reference/paper_fig4_spearman.csv",
                        help="the paper's values (for --swap)")
    args = parser.parse_args()
    if args.swap:
        print(swap_table(args.run_dirs, args.reference))
    else:
        print(table(pd.read_csv(Path(args.run_dirs[0]) / "gaps.csv")))


if __name__ == "__main__":
    main()
