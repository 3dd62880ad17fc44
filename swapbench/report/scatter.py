"""Score against accuracy for every metric of one (space, task) column, as the paper's Figs. 16-17 show
them: where a correlation hides a pattern (a cluster of failed networks, a ceiling) a look finds it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from swapbench.study.stats import rank_correlations

PANEL_IN = 2.0  # width and height of one metric's panel, inches


def _log_scale(values: np.ndarray) -> bool:
    """Positive scores spanning more than two decades read better on a log axis."""
    finite = values[np.isfinite(values)]
    return len(finite) > 1 and bool(np.all(finite > 0)) and finite.max() / finite.min() > 1e2


def scatter_figure(scores: pd.DataFrame, title: str, stem: Path, max_cols: int = 4) -> list[Path]:
    """One panel per metric (in the frame's order) of score against accuracy, seed by seed in one colour
    each, with the Spearman of every seed's architectures averaged in the panel title. Writes STEM.png/.pdf."""
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    from swapbench.report.figures import plt, save  # matplotlib loads when a figure is drawn

    metrics = list(dict.fromkeys(scores["proxy"]))
    seeds = sorted(scores["seed"].unique())
    cols = min(max_cols, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL_IN * cols, PANEL_IN * rows + 0.4), squeeze=False)
    colours = matplotlib.colormaps["tab10"]
    for ax, metric in zip(axes.flat, metrics, strict=False):
        part = scores[(scores["proxy"] == metric) & scores["score"].notna()]
        rhos = []
        for k, seed in enumerate(seeds):
            g = part[part["seed"] == seed]
            if len(g) == 0:
                continue
            rhos.append(rank_correlations(g["score"].to_numpy(), g["accuracy"].to_numpy())[0])
            ax.scatter(g["score"], g["accuracy"], s=4, alpha=0.5, linewidths=0, color=colours(k % 10),
                       label=f"seed {seed}" if len(seeds) > 1 else None)
        if _log_scale(part["score"].to_numpy(float)):
            ax.set_xscale("log")
        else:  # large linear scores as 1e5 multiples, few ticks: labels that do not run into each other
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
            ax.xaxis.set_major_locator(MaxNLocator(4))
            ax.xaxis.get_offset_text().set_fontsize(6.5)
        rho = np.nanmean(rhos) if rhos and not all(math.isnan(r) for r in rhos) else float("nan")
        ax.set_title(f"{metric}  ρ = {'–' if math.isnan(rho) else f'{rho:.2f}'}", fontsize=8)
        ax.tick_params(labelsize=6.5)
        ax.set_xlabel("score", fontsize=7)
        ax.set_ylabel("accuracy", fontsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    if len(seeds) > 1:
        axes.flat[0].legend(fontsize=6, markerscale=2, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save(fig, Path(stem), dpi=150, tight=False)
