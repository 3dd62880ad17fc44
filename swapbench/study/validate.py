"""Agreement with a benchmark's stored metric scores (NAS-Bench-Suite-Zero stores 13 baselines per
architecture): on the same architectures, Spearman(ours, stored) and how far our Spearman with accuracy is
from theirs. The scores come from the one run engine, so they are the cached scores of any other run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from swapbench.data.benchmarks import TruthTable
from swapbench.study.stats import bootstrap_correlations, percentile_interval, rank_correlations


def stored_frame(truth: TruthTable, metrics: list[str]) -> pd.DataFrame:
    """arch (key as in the table), metric, stored: the table's own scores of the given metrics."""
    rows = [dict(arch=key, metric=m, stored=float(truth.stored[m][i]))
            for m in metrics if m in truth.stored for i, key in enumerate(truth.keys)]
    return pd.DataFrame(rows, columns=["arch", "metric", "stored"])


def compare_stored(scores: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """Per (seed, metric) with stored values: n, Spearman(ours, stored) with its 95 % bootstrap interval,
    Spearman with accuracy of ours and of the stored scores on the same architectures, and their difference."""
    both = scores.merge(stored.rename(columns={"metric": "proxy"}), on=["arch", "proxy"], how="inner")
    rows = []
    for (seed, metric), g in both.groupby(["seed", "proxy"], sort=False):
        g = g[np.isfinite(g["score"]) & np.isfinite(g["stored"])]
        ours, ref, acc = g["score"].to_numpy(), g["stored"].to_numpy(), g["accuracy"].to_numpy()
        agree, _ = rank_correlations(ours, ref)
        lo, hi = percentile_interval(bootstrap_correlations(ours, ref, seed=int(seed))[0]) if len(g) >= 3 else (
            np.nan, np.nan)
        r_ours, _ = rank_correlations(ours, acc)
        r_ref, _ = rank_correlations(ref, acc)
        rows.append(dict(seed=int(seed), metric=metric, n=len(g), spearman_ours_stored=agree,
                         spearman_ours_stored_lo=lo, spearman_ours_stored_hi=hi, spearman_ours_acc=r_ours,
                         spearman_stored_acc=r_ref, delta_acc=r_ours - r_ref))
    return pd.DataFrame(rows, columns=["seed", "metric", "n", "spearman_ours_stored", "spearman_ours_stored_lo",
                                       "spearman_ours_stored_hi", "spearman_ours_acc", "spearman_stored_acc",
                                       "delta_acc"])
