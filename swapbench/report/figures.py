"""What every figure shares: the Agg backend (no display needed), a style sized for one column of a
two-column paper, and atomic PNG + PDF saving."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

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


def save(fig: plt.Figure, stem: Path, dpi: float | None = None, tight: bool = True) -> list[Path]:
    """PNG and PDF next to each other, each written atomically (`dpi`: the PNG's; default the style's)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = stem.with_suffix(f".{ext}")
        tmp = path.with_name(f"{path.stem}.tmp.{ext}")
        fig.savefig(tmp, bbox_inches="tight" if tight else None, dpi=dpi if ext == "png" and dpi else "figure")
        os.replace(tmp, path)
        paths.append(path)
    plt.close(fig)
    return paths
