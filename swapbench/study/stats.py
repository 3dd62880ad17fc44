"""Rank correlations, their bootstrap confidence intervals, and their summaries over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95
CEILING_MARGIN = 0.01  # a score within 1 % of its metric's ceiling counts as at the ceiling
CEILING_NOTE = 0.5  # a cell is flagged when at least this share of its scores sit at the ceiling


def rank_correlations(scores: np.ndarray, accuracy: np.ndarray) -> tuple[float, float]:
    """Spearman (average ranks for ties, as scipy / NAS-Bench-Suite-Zero) and Kendall tau-b."""
    scores, accuracy = np.asarray(scores, float), np.asarray(accuracy, float)
    if len(scores) < 3 or np.all(scores == scores[0]):
        return float("nan"), float("nan")
    rho = stats.spearmanr(scores, accuracy).statistic
    tau = stats.kendalltau(scores, accuracy).statistic
    return float(rho), float(tau)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman per row of two (B, n) arrays (average ranks for ties); NaN where a row is constant."""
    rx, ry = stats.rankdata(x, axis=1), stats.rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denom = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (rx * ry).sum(axis=1) / denom, np.nan)


def bootstrap_correlations(scores: np.ndarray, accuracy: np.ndarray, resamples: int = BOOTSTRAP_RESAMPLES,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Spearman and Kendall of `resamples` bootstrap resamples of the architectures (drawn with
    replacement, same size); seeded, so a table's intervals are reproducible."""
    scores, accuracy = np.asarray(scores, float), np.asarray(accuracy, float)
    n = len(scores)
    if n < 3:
        return np.full(resamples, np.nan), np.full(resamples, np.nan)
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    xs, ys = scores[idx], accuracy[idx]
    rho = _spearman_rows(xs, ys)
    tau = np.array([stats.kendalltau(x, y).statistic if np.ptp(x) > 0 and np.ptp(y) > 0 else np.nan
                    for x, y in zip(xs, ys, strict=True)])
    return rho, tau


def percentile_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The central `confidence` interval of a bootstrap distribution (NaN resamples left out)."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


Draws = dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]  # (proxy, seed) -> resampled (Spearman, Kendall)


def correlation_table(scores: pd.DataFrame, space: str, task: str, resamples: int = BOOTSTRAP_RESAMPLES,
                      draws: Draws | None = None) -> pd.DataFrame:
    """scores: seed, arch, proxy, score, accuracy -> one row per (proxy, seed) with 95 % bootstrap
    intervals over architectures. Pass a dict as `draws` to keep the resampled values, so that `summarise`
    can give the seed mean its own interval."""
    draws = {} if draws is None else draws
    rows = []
    for (proxy, seed), group in scores.groupby(["proxy", "seed"], sort=False):
        group = group[group["score"].notna()]  # NaN = metric not applicable to that network
        x, y = group["score"].to_numpy(), group["accuracy"].to_numpy()
        rho, tau = rank_correlations(x, y)
        row = dict(space=space, task=task, proxy=proxy, seed=int(seed), n=len(group), spearman=rho, kendall=tau)
        if resamples and rho == rho:
            b_rho, b_tau = bootstrap_correlations(x, y, resamples, seed=int(seed))
            draws[(proxy, int(seed))] = (b_rho, b_tau)
            row["spearman_lo"], row["spearman_hi"] = percentile_interval(b_rho)
            row["kendall_lo"], row["kendall_hi"] = percentile_interval(b_tau)
        rows.append(row)
    columns = ["space", "task", "proxy", "seed", "n", "spearman", "spearman_lo", "spearman_hi", "kendall",
               "kendall_lo", "kendall_hi"]
    return pd.DataFrame(rows, columns=columns)


def summarise(corr: pd.DataFrame, draws: Draws | None = None) -> pd.DataFrame:
    """Mean and population std (ddof=0) over seeds, per (space, task, proxy), and the 95 % bootstrap
    interval of the seed mean (each seed's architectures resampled independently, resample b of every seed
    averaged) when the bootstrap `draws` of `correlation_table` are given."""
    draws = draws or {}
    rows = []
    for (space, task, proxy), g in corr.groupby(["space", "task", "proxy"], sort=False):
        row = dict(
            space=space, task=task, proxy=proxy, n=int(g["n"].max()), seeds=len(g),
            spearman_mean=g["spearman"].mean(), spearman_std=g["spearman"].std(ddof=0),
            kendall_mean=g["kendall"].mean(), kendall_std=g["kendall"].std(ddof=0),
        )
        per_seed = [draws[(proxy, int(s))] for s in g["seed"] if (proxy, int(s)) in draws]
        if per_seed and len(per_seed) == len(g):
            row["spearman_lo"], row["spearman_hi"] = percentile_interval(np.mean([d[0] for d in per_seed], axis=0))
            row["kendall_lo"], row["kendall_hi"] = percentile_interval(np.mean([d[1] for d in per_seed], axis=0))
        rows.append(row)
    return pd.DataFrame(rows, columns=["space", "task", "proxy", "n", "seeds", "spearman_mean", "spearman_std",
                                       "spearman_lo", "spearman_hi", "kendall_mean", "kendall_std", "kendall_lo",
                                       "kendall_hi"])


def ceiling_shares(scores: pd.DataFrame, bounds: dict[str, float | None]) -> dict[str, float]:
    """Per metric with a ceiling (`bounds`: proxy -> largest reachable score): the share of its scores within
    CEILING_MARGIN of it. Where most scores sit there, the ranking rests on near-ties, not on the networks
    (SWAP at 16 images on networks with far more than 2^16 units)."""
    out = {}
    for proxy, group in scores.groupby("proxy", sort=False):
        bound = bounds.get(proxy)
        values = group["score"].dropna()
        if bound is not None and len(values):
            out[proxy] = float((values >= (1 - CEILING_MARGIN) * bound).mean())
    return out


def ceiling_notes(summary: pd.DataFrame) -> list[str]:
    """One line per summary row whose metric mostly sits at its ceiling (the `at_ceiling` column)."""
    if "at_ceiling" not in summary.columns:
        return []
    flagged = summary[summary["at_ceiling"].astype(float) >= CEILING_NOTE]
    return [f"{r.proxy} on {r.space}/{r.task}: {100 * r.at_ceiling:.0f} % of the scores lie within "
            f"{100 * CEILING_MARGIN:.0f} % of "
            "the metric's ceiling, so its ranking there rests on near-ties (a larger batch raises the ceiling)"
            for r in flagged.itertuples()]
