"""Figures of the ablations: the model-size histogram (paper Appendix B, Figs. 9-11) and Spearman against
input size (paper Appendix D, Fig. 15). Matplotlib with the Agg backend (no display needed); each figure
is written as PNG and PDF, sized for a single paper column so that its text stays legible when printed."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

PAPER_WIDTH_IN = 3.4  # one column of a two-column paper
STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 7.5,
    "savefig.dpi": 300,
}
SPACE_NAMES = {"nb101": "NAS-Bench-101", "nb201": "NAS-Bench-201", "nb301": "NAS-Bench-301"}


def _save(fig: plt.Figure, stem: Path) -> list[Path]:
    """PNG and PDF next to each other, each written atomically."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = stem.with_suffix(f".{ext}")
        tmp = path.with_name(f"{path.stem}.tmp.{ext}")
        fig.savefig(tmp, bbox_inches="tight")
        os.replace(tmp, path)
        paths.append(path)
    plt.close(fig)
    return paths


def model_size_histogram(params_m: Sequence[float], space: str, task: str, stem: Path, bins: int = 30) -> list[Path]:
    """Histogram of parameter counts (millions) of the sampled architectures."""
    values = np.asarray(params_m, dtype=float)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN, 2.4))
        ax.hist(values, bins=bins, color="#4477aa", edgecolor="white", linewidth=0.5)
        ax.set_xlabel("model size (millions of parameters)")
        ax.set_ylabel("architectures")
        ax.set_title(f"{SPACE_NAMES.get(space, space)} ({task}): {len(values)} sampled architectures")
        ax.text(0.98, 0.95, f"range {values.min():.2f}–{values.max():.2f} M\nmedian {np.median(values):.2f} M",
                transform=ax.transAxes, ha="right", va="top", fontsize=7.5)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        return _save(fig, stem)


def input_size_figure(table: pd.DataFrame, labels: dict[str, str], stem: Path) -> list[Path]:
    """Spearman against input size per metric: ours solid, the paper's dashed. A metric whose value is the
    same for every architecture has no rank correlation: it is marked with a cross at 0 ('undefined')."""
    from matplotlib.lines import Line2D

    colours = ["#cc6677", "#4477aa", "#228833", "#aa7733"]
    sizes = sorted(int(s) for s in table["input_size"].unique())
    handles = []
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(PAPER_WIDTH_IN, 2.9))
        for colour, (metric, part) in zip(colours, table.groupby("metric", sort=False), strict=False):
            part = part.sort_values("input_size")
            ax.plot(part["input_size"], part["spearman"], "o-", color=colour, markersize=4)
            undefined = part[part["spearman"].isna()]
            if len(undefined):  # (an empty unclipped line would still stretch the saved bounding box)
                ax.plot(undefined["input_size"], [0.0] * len(undefined), "x", color=colour, markersize=6,
                        clip_on=False)
            ax.plot(part["input_size"], part["paper_spearman"], "s--", color=colour, alpha=0.55, markersize=3)
            handles.append(Line2D([], [], color=colour, marker="o", markersize=4, label=labels.get(metric, metric)))
        handles += [Line2D([], [], color="black", marker="o", markersize=3, label="ours"),
                    Line2D([], [], color="black", linestyle="--", marker="s", markersize=3, alpha=0.55, label="paper"),
                    Line2D([], [], color="black", linestyle="", marker="x", label="undefined (constant)")]
        ticks = []
        for s in sizes:
            eff = int(table.loc[table["input_size"] == s, "effective_size"].iloc[0])
            ticks.append(f"{s}x{s}" if eff == s else f"{s}x{s}\n(fed {eff}x{eff})")
        ax.set_xticks(sizes, ticks)
        ax.set_ylim(0, 1)
        ax.set_xlabel("input size")
        ax.set_ylabel("Spearman with accuracy")
        ax.legend(handles=handles, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.32),
                  fontsize=7, columnspacing=1.0, handlelength=1.8)
        ax.grid(axis="y", linewidth=0.4, alpha=0.5)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        return _save(fig, stem)
