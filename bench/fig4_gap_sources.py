"""Where a Fig. 4 gap comes from: our metric, our sample of architectures, or neither.

A study cell compares our Spearman on n sampled architectures with the paper's value. NAS-Bench-Suite-Zero
stores, for a few hundred architectures per column, its own score of 11-13 of the metrics. Those stored
scores split the gap (ours - paper) into three parts, each on data we have:

  fidelity   ours - stored, both on the architectures we scored that the table also holds: how far our
             metric's ranking is from the peer's on the same networks (0 for a deterministic metric that
             agrees exactly)
  sample     stored on our architectures - stored on all the table's architectures: what drawing n
             architectures did to the cell (the paper averages 5 x 1000)
  rest       stored on all - paper: what neither explains (the paper's own sample and protocol, or a
             column label that is wrong)

Per (column, metric): n of each set, the three Spearman values with a 95 % bootstrap interval for the
full-table one, and the three parts. Scores the failure value (-1e8) or NaN are left out on both sides.

    python -m bench.fig4_gap_sources results/fig4-tnb [--reference CSV] [--name fig4_gap_sources_tnb.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import spearman, write_result
from swapbench.data.benchmarks import load_truth
from swapbench.data.datadir import resolve_data_dir
from swapbench.proxies.registry import FAILED
from swapbench.spaces import get_space
from swapbench.study.stats import bootstrap_correlations, percentile_interval

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "paper_fig4_spearman.csv"


def _clean(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.where(values <= FAILED / 10, np.nan, values)


def _full_interval(stored: np.ndarray, acc: np.ndarray) -> tuple[float, float]:
    ok = ~np.isnan(stored)
    if ok.sum() < 3 or np.ptp(stored[ok]) == 0:
        return np.nan, np.nan
    return percentile_interval(bootstrap_correlations(stored[ok], acc[ok], seed=0)[0])


def column_sources(scores: pd.DataFrame, space_name: str, task: str, paper: dict[str, float],
                   data_dir: Path) -> list[dict]:
    """One row per metric that the NB-SZ table stores for this column."""
    space = get_space(space_name)
    table = load_truth(space, task, data_dir)
    index = {arch: i for i, arch in enumerate(table.archs)}
    ours = scores[(scores.space == space_name) & (scores.task == task) & (scores.seed == 0)]
    rows = []
    for metric, stored_all in table.stored.items():
        mine = ours[ours.proxy == metric]
        if mine.empty:
            continue
        stored_all = _clean(stored_all)
        rows_in_table = [index.get(space.parse(key, data_dir)) for key in mine.arch]
        hit = np.array([i is not None for i in rows_in_table])
        at = np.array([i for i in rows_in_table if i is not None], dtype=int)
        our_scores = _clean(mine.score.to_numpy())[hit]
        rho_ours = spearman(our_scores, table.accuracy[at])
        rho_stored_ours = spearman(stored_all[at], table.accuracy[at])
        rho_all = spearman(stored_all, table.accuracy)
        lo, hi = _full_interval(stored_all, table.accuracy)
        ref = paper.get(metric, np.nan)
        rows.append(dict(
            space=space_name, task=task, metric=metric, n_scored=len(mine), n_overlap=int(hit.sum()),
            n_table=int((~np.isnan(stored_all)).sum()), ours=rho_ours, stored_on_ours=rho_stored_ours,
            stored_all=rho_all, stored_all_lo=lo, stored_all_hi=hi, paper=ref,
            fidelity=rho_ours - rho_stored_ours, sample=rho_stored_ours - rho_all, rest=rho_all - ref,
        ))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a study run directory (scores.csv.gz)")
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--name", default=None, help="result file name (default fig4_gap_sources_<run>.csv)")
    args = ap.parse_args()
    scores = pd.read_csv(args.run / "scores.csv.gz")
    ref = pd.read_csv(args.reference)
    data_dir = resolve_data_dir(args.data_dir)
    rows = []
    for (space, task), _ in scores.groupby(["space", "task"], sort=False):
        cell = ref[(ref.space == space) & (ref.task == task)]
        rows += column_sources(scores, space, task, dict(zip(cell.proxy, cell.spearman, strict=True)), data_dir)
    frame = pd.DataFrame(rows)
    name = args.name or f"fig4_gap_sources_{args.run.name}.csv"
    shown = frame.drop(columns=["stored_all_lo", "stored_all_hi"])
    write_result(frame, name, shown=shown)


if __name__ == "__main__":
    main()
