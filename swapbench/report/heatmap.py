"""Fig. 4-style heatmaps: metrics as rows, (space, task) columns, both ordered by their mean, the value
printed in every cell; and the cell-wise difference to a reference table (e.g. the paper's)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from swapbench.errors import SwapbenchError

# short column labels as the paper writes them
_SPACE_LABEL = {"nb101": "NB101", "nb201": "NB201", "nb301": "NB301", "tnb101_micro": "TNB101\nmicro",
                "tnb101_macro": "TNB101\nmacro"}
_TASK_LABEL = {"cifar10": "C10", "cifar100": "C100", "ImageNet16-120": "IN16",
               "class_scene": "scene", "class_object": "object", "autoencoder": "autoenc.", "jigsaw": "jigsaw",
               "normal": "normal", "room_layout": "room", "segmentsemantic": "seg."}


def column_label(space: str, task: str) -> str:
    return f"{_SPACE_LABEL.get(space, space)}\n{_TASK_LABEL.get(task, task)}"


def pivot(frame: pd.DataFrame, value: str = "spearman_mean") -> pd.DataFrame:
    """(space, task, proxy, value) rows -> proxies x (space, task) columns."""
    columns = list(dict.fromkeys(zip(frame["space"], frame["task"], strict=True)))  # only pairs that exist
    proxies = list(dict.fromkeys(frame["proxy"]))
    table = frame.set_index(["proxy", "space", "task"])[value].unstack(["space", "task"])
    return table.reindex(index=proxies, columns=pd.MultiIndex.from_tuples(columns, names=["space", "task"]))


def order_by_mean(table: pd.DataFrame) -> pd.DataFrame:
    """Rows and columns by descending mean (NaN cells ignored; an all-NaN row or column goes last)."""
    rows = table.mean(axis=1, skipna=True).fillna(-np.inf).sort_values(ascending=False, kind="stable").index
    cols = table.mean(axis=0, skipna=True).fillna(-np.inf).sort_values(ascending=False, kind="stable").index
    return table.loc[rows, cols]


def load_reference(path: str | Path) -> pd.DataFrame:
    """A reference table: CSV with proxy, space, task and a `spearman` (or `spearman_mean`) column."""
    path = Path(path)
    if not path.is_file():
        raise SwapbenchError(f"reference table {path} not found")
    ref = pd.read_csv(path)
    value = "spearman" if "spearman" in ref.columns else "spearman_mean"
    missing = {"proxy", "space", "task", value} - set(ref.columns)
    if missing:
        raise SwapbenchError(f"reference table {path} lacks column(s) {', '.join(sorted(missing))}")
    return ref.rename(columns={value: "reference"})[["space", "task", "proxy", "reference"]]


def compare(summary: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Cells present in both: ours with its 95 % bootstrap interval, reference, diff = ours - reference, and
    `reproduced`: the reference lies inside our interval (a gap that sampling noise explains); sorted by
    |diff| descending."""
    summary = summary.copy()
    for col in ("spearman_lo", "spearman_hi"):
        if col not in summary.columns:  # a table stored before intervals were computed
            summary[col] = np.nan
    ours = summary[["space", "task", "proxy", "spearman_mean", "spearman_lo", "spearman_hi", "n", "seeds"]].rename(
        columns={"spearman_mean": "ours", "spearman_lo": "ours_lo", "spearman_hi": "ours_hi"})
    both = ours.merge(reference, on=["space", "task", "proxy"], how="inner")
    both["diff"] = both["ours"] - both["reference"]
    both["abs_diff"] = both["diff"].abs()
    both["reproduced"] = (both["ours_lo"] <= both["reference"]) & (both["reference"] <= both["ours_hi"])
    return both.sort_values("abs_diff", ascending=False, na_position="first", kind="stable").reset_index(drop=True)


def plot_heatmap(table: pd.DataFrame, stem: Path, title: str, *, diverging_limit: float | None = None,
                 cbar_label: str = "Spearman ρ", cmap: str = "RdBu_r",
                 halfwidth: pd.DataFrame | None = None) -> list[Path]:
    """Write STEM.png and STEM.pdf. Sized for a paper's text width (about 7 in); 6.5 pt cell values, and under
    each the half-width of its 95 % interval when `halfwidth` (same layout) is given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = table.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    limit = diverging_limit if diverging_limit is not None else 1.0
    width = min(7.2, 1.6 + 0.5 * n_cols)
    height = 0.9 + 0.26 * n_rows
    fig, ax = plt.subplots(figsize=(width, height))
    colormap = matplotlib.colormaps[cmap].with_extremes(bad="#d9d9d9")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=colormap, vmin=-limit, vmax=limit, aspect="auto")
    for i in range(n_rows):
        for j in range(n_cols):
            v = values[i, j]
            text = "–" if math.isnan(v) else f"{v:.2f}"
            dark = not math.isnan(v) and abs(v) > 0.6 * limit
            h = float(halfwidth.iloc[i, j]) if halfwidth is not None else math.nan
            color = "white" if dark else "black"
            if math.isnan(h) or math.isnan(v):
                ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color=color)
            else:
                ax.text(j, i - 0.14, text, ha="center", va="center", fontsize=6.5, color=color)
                ax.text(j, i + 0.24, f"±{h:.2f}", ha="center", va="center", fontsize=4.5, color=color)
    ax.set_xticks(range(n_cols))
    ax.set_xticklabels([column_label(s, t) for s, t in table.columns], fontsize=6.5)
    ax.set_yticks(range(n_rows))
    ax.set_yticklabels(list(table.index), fontsize=7)
    ax.tick_params(length=0)
    ax.xaxis.tick_top()
    # Narrow maps (few columns) would clip a one-line title: wrap it to the figure's width.
    chars = max(20, int(width * 72 / (8 * 0.55)))
    ax.set_title(textwrap.fill(title, chars), fontsize=8, pad=38)
    bar = fig.colorbar(image, ax=ax, fraction=0.035, pad=0.02)
    bar.ax.tick_params(labelsize=6.5)
    bar.set_label(cbar_label, fontsize=7)
    fig.tight_layout()
    paths = []
    for ext in ("png", "pdf"):
        path = Path(f"{stem}.{ext}")
        tmp = path.with_name(path.stem + ".tmp." + ext)
        fig.savefig(tmp, dpi=200 if ext == "png" else None)
        tmp.replace(path)
        paths.append(path)
    plt.close(fig)
    return paths


def diff_limit(diff: pd.DataFrame) -> float:
    """A symmetric colour range for a difference map: the largest |diff| rounded up to 0.1, at least 0.2."""
    biggest = float(np.nanmax(np.abs(diff.to_numpy(dtype=float)))) if diff.size else 0.0
    if math.isnan(biggest):
        biggest = 0.0
    return max(0.2, math.ceil(biggest * 10) / 10)
