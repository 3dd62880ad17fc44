"""Rank correlations and their summaries over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def rank_correlations(scores: np.ndarray, accuracy: np.ndarray) -> tuple[float, float]:
    """Spearman (average ranks for ties, as scipy / NAS-Bench-Suite-Zero) and Kendall tau-b."""
    scores, accuracy = np.asarray(scores, float), np.asarray(accuracy, float)
    if len(scores) < 3 or np.all(scores == scores[0]):
        return float("nan"), float("nan")
    rho = stats.spearmanr(scores, accuracy).statistic
    tau = stats.kendalltau(scores, accuracy).statistic
    return float(rho), float(tau)


def correlation_table(scores: pd.DataFrame, space: str, task: str) -> pd.DataFrame:
    """scores: seed, arch, proxy, score, accuracy -> one row per (proxy, seed)."""
    rows = []
    for (proxy, seed), group in scores.groupby(["proxy", "seed"], sort=False):
        group = group[group["score"].notna()]  # NaN = metric not applicable to that network
        rho, tau = rank_correlations(group["score"].to_numpy(), group["accuracy"].to_numpy())
        rows.append(dict(space=space, task=task, proxy=proxy, seed=int(seed), n=len(group),
                         spearman=rho, kendall=tau))
    return pd.DataFrame(rows, columns=["space", "task", "proxy", "seed", "n", "spearman", "kendall"])


def summarise(corr: pd.DataFrame) -> pd.DataFrame:
    """Mean and population std (ddof=0) over seeds, per (space, task, proxy)."""
    rows = []
    for (space, task, proxy), g in corr.groupby(["space", "task", "proxy"], sort=False):
        rows.append(dict(
            space=space, task=task, proxy=proxy, n=int(g["n"].max()), seeds=len(g),
            spearman_mean=g["spearman"].mean(), spearman_std=g["spearman"].std(ddof=0),
            kendall_mean=g["kendall"].mean(), kendall_std=g["kendall"].std(ddof=0),
        ))
    return pd.DataFrame(rows, columns=["space", "task", "proxy", "n", "seeds", "spearman_mean",
                                       "spearman_std", "kendall_mean", "kendall_std"])
