"""The files a study writes: tables, the Fig. 4-style heatmap, and the comparison with a reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from swapbench.report.heatmap import compare, diff_limit, load_reference, order_by_mean, pivot, plot_heatmap
from swapbench.report.tables import atomic_write, markdown_table, write_csv

WITHIN = 0.05  # the band the closing tables call "reproduced"


def pivot_markdown(table: pd.DataFrame, digits: int = 2) -> str:
    flat = table.copy()
    flat.columns = [f"{s}/{t}" for s, t in table.columns]
    flat.insert(0, "metric", flat.index)
    return markdown_table(flat.reset_index(drop=True), digits)


def write_study_report(directory: Path, name: str, summary: pd.DataFrame, correlations: pd.DataFrame,
                       scores: pd.DataFrame | None, reference: str | None = None) -> dict[str, Any]:
    """Write every report file; returns what a caller prints (files, and the gap counts with a reference)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_csv(summary, directory / "summary.csv")
    write_csv(correlations, directory / "correlations.csv")
    if scores is not None:
        tmp = directory / "scores.tmp.csv.gz"
        scores.to_csv(tmp, index=False, float_format="%.8g")
        tmp.replace(directory / "scores.csv.gz")
    seeds = int(summary["seeds"].max()) if len(summary) else 0
    archs = summary.groupby(["space", "task"])["n"].max()
    table = order_by_mean(pivot(summary))
    substitute = summary.loc[summary["input"] == "substitute", ["space", "task"]].drop_duplicates()
    lines = [f"# {name}: Spearman ρ, mean over {seeds} seed(s)", "",
             "Rows and columns ordered by mean. Architectures per seed: "
             + ", ".join(f"{s}/{t} {n}" for (s, t), n in archs.items()) + ".", ""]
    if len(substitute):
        lines += ["Columns scored on SUBSTITUTE inputs: "
                  + ", ".join(f"{s}/{t}" for s, t in substitute.itertuples(index=False)) + ".", ""]
    lines += [pivot_markdown(table), "## All cells", "", markdown_table(summary, 3)]
    result: dict[str, Any] = {"files": []}
    title = f"{name}: Spearman ρ ({seeds} seed(s); n per column: {archs.min()}–{archs.max()})"
    halfwidth = None
    if {"spearman_lo", "spearman_hi"} <= set(summary.columns):
        half = summary.assign(half=(summary["spearman_hi"] - summary["spearman_lo"]) / 2)
        halfwidth = pivot(half, "half").loc[table.index, table.columns]
        title += "; ± half-width of the 95 % bootstrap interval"
    result["files"] += plot_heatmap(table, directory / "heatmap", title, halfwidth=halfwidth)
    if reference:
        gaps = compare(summary, load_reference(reference))
        write_csv(gaps, directory / "gaps.csv")
        ours = pivot(gaps.rename(columns={"diff": "value"}), "value")
        ours = ours.loc[[r for r in table.index if r in ours.index], [c for c in table.columns if c in ours.columns]]
        result["files"] += plot_heatmap(ours, directory / "heatmap_diff", f"{name}: ours − reference (Spearman ρ)",
                                        diverging_limit=diff_limit(ours), cbar_label="Δρ", cmap="PuOr_r")
        inside = int((gaps["abs_diff"] <= WITHIN).sum())
        reproduced = int(gaps["reproduced"].sum())
        result.update(cells=len(gaps), within=inside, outside=len(gaps) - inside, reproduced=reproduced)
        top = gaps.head(20)[["space", "task", "proxy", "ours", "ours_lo", "ours_hi", "reference", "diff",
                             "reproduced", "n", "seeds"]]
        verdict = (f"{reproduced} of {len(gaps)} cells reproduced (the reference inside our 95 % bootstrap "
                   f"interval over architectures); {inside} within ±{WITHIN}; mean |Δ| {gaps['abs_diff'].mean():.3f}.")
        lines += ["", f"## Versus {Path(reference).name}", "", verdict, "", "Largest gaps:", "",
                  markdown_table(top, 2)]
        atomic_write(directory / "gaps.md", f"# Gaps to {Path(reference).name}\n\n{verdict}\n\n"
                     + markdown_table(gaps.drop(columns="abs_diff"), 2))
    atomic_write(directory / "summary.md", "\n".join(lines) + "\n")
    return result
