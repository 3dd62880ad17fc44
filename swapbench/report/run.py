"""The files of a run directory — the same whatever command made it:

  run.json          command, config, protocol, resolved settings per column, versions, machine, git revision
  scores.csv.gz     space, task, seed, arch, proxy, score, accuracy (one row per arch x metric x seed)
  correlations.csv  one row per (column, metric, seed), with 95 % bootstrap intervals
  summary.csv       one row per (column, metric): mean/std over seeds and the interval of the mean
  summary.md        the tables in Markdown (and the gaps to a reference table when one is given)
  figures/          heatmap (metrics x columns), one score-vs-accuracy scatter per column

`rerender` rebuilds every table and figure of a stored run from its scores, without rescoring.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from swapbench.errors import SwapbenchError
from swapbench.report.heatmap import compare, diff_limit, load_reference, order_by_mean, pivot, plot_heatmap
from swapbench.report.scatter import scatter_figure
from swapbench.report.tables import atomic_write, markdown_table, summary_view, write_csv, write_json
from swapbench.study.engine import StudyResult
from swapbench.study.rundir import SCORES
from swapbench.study.runner import at_ceiling
from swapbench.study.stats import CEILING_MARGIN, ceiling_notes, correlation_table, summarise

WITHIN = 0.05  # the band the closing tables call "within"
FIGURES = "figures"


def pivot_markdown(table: pd.DataFrame, digits: int = 2) -> str:
    flat = table.copy()
    flat.columns = [f"{s}/{t}" for s, t in table.columns]
    flat.insert(0, "metric", flat.index)
    return markdown_table(flat.reset_index(drop=True), digits)


def run_title(meta: dict[str, Any]) -> str:
    study = meta.get("study", {})
    protocol = meta.get("run", {}).get("protocol") or study.get("protocol", "paper")
    return f"{study.get('name', 'run')}, protocol {protocol}"


def write_scores(scores: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name.replace(".csv.gz", ".tmp.csv.gz"))
    try:
        scores.to_csv(tmp, index=False)  # every digit: re-rendering from the file gives the same tables
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def write_run(result: StudyResult, directory: Path, reference: str | None = None,
              title: str | None = None, scores: bool = True) -> dict[str, Any]:
    """Write every file of the run directory; returns what a caller prints (files, and the gap counts with a
    reference)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    title = title or run_title(result.meta)
    if scores:
        write_scores(result.scores, directory / SCORES)
    write_csv(result.correlations, directory / "correlations.csv")
    write_csv(result.summary, directory / "summary.csv")
    report = render(result.summary, result.scores, directory, title, reference)
    meta = dict(result.meta)
    if reference:
        meta["reference"] = reference
    write_json(meta, directory / "run.json")
    return report


def render(summary: pd.DataFrame, scores: pd.DataFrame, directory: Path, name: str,
           reference: str | None = None) -> dict[str, Any]:
    """summary.md and figures/ (and gaps.csv/.md with a reference) from a run's summary and scores."""
    figures = directory / FIGURES
    figures.mkdir(parents=True, exist_ok=True)
    seeds = int(summary["seeds"].max()) if len(summary) else 0
    archs = summary.groupby(["space", "task"], sort=False)["n"].max()
    table = order_by_mean(pivot(summary))
    substitute = summary.loc[summary["input"] == "substitute", ["space", "task"]].drop_duplicates()
    lines = [f"# {name}: Spearman ρ, mean over {seeds} seed(s)", "",
             "Architectures per seed: " + ", ".join(f"{s}/{t} {n}" for (s, t), n in archs.items()) + ". "
             "Intervals: 95 % bootstrap over architectures (of the seed mean).", ""]
    if len(substitute):
        lines += ["Columns scored on SUBSTITUTE inputs: "
                  + ", ".join(f"{s}/{t}" for s, t in substitute.itertuples(index=False)) + ".", ""]
    if table.shape[1] > 1:
        lines += ["Rows and columns ordered by mean.", "", pivot_markdown(table), "## All cells", ""]
    lines += [markdown_table(summary_view(summary), 3)]
    notes = ceiling_notes(summary)
    if notes:
        lines += [f"At the ceiling (`at_ceiling`: the share of scores within {100 * CEILING_MARGIN:.0f} % of the most "
                  "a metric can give):", "",
                  *[f"- {note}" for note in notes], ""]
    result: dict[str, Any] = {"files": []}
    if table.size > 1:
        heat_title = f"{name}: Spearman ρ ({seeds} seed(s); n per column: {archs.min()}–{archs.max()})"
        halfwidth = None
        if {"spearman_lo", "spearman_hi"} <= set(summary.columns):
            half = summary.assign(half=(summary["spearman_hi"] - summary["spearman_lo"]) / 2)
            halfwidth = pivot(half, "half").loc[table.index, table.columns]
            heat_title += "; ± half-width of the 95 % bootstrap interval"
        with warnings.catch_warnings():  # a one-row map cannot be laid out tighter; it is still right
            warnings.filterwarnings("ignore", message="Tight layout not applied")
            result["files"] += plot_heatmap(table, figures / "heatmap", heat_title, halfwidth=halfwidth)
    for (space, task), part in scores.groupby(["space", "task"], sort=False):
        result["files"] += scatter_figure(part, f"{name}: {space}/{task}, score against accuracy",
                                          figures / f"scatter-{space}-{task}")
    if reference:
        gaps = compare(summary, load_reference(reference))
        write_csv(gaps, directory / "gaps.csv")
        ours = pivot(gaps.rename(columns={"diff": "value"}), "value")
        ours = ours.loc[[r for r in table.index if r in ours.index], [c for c in table.columns if c in ours.columns]]
        if ours.size:
            result["files"] += plot_heatmap(ours, figures / "heatmap_diff", f"{name}: ours − reference (Spearman ρ)",
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


# --------------------------------------------------------------------------------------------
# re-rendering a stored run


def read_scores(directory: Path) -> pd.DataFrame:
    for name in (SCORES, "scores.csv"):
        if (directory / name).is_file():
            return pd.read_csv(directory / name)
    raise SwapbenchError(f"{directory} holds no {SCORES} (or scores.csv); nothing to re-render")


def read_meta(directory: Path) -> dict[str, Any]:
    path = Path(directory) / "run.json"
    if not path.is_file():
        raise SwapbenchError(f"{directory} is not a run directory (no run.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SwapbenchError(f"{path} is not valid JSON ({exc})") from None


def rerender_study(directory: Path, meta: dict[str, Any], reference: str | None = None) -> dict[str, Any]:
    """Correlations, summary, summary.md and figures of a correlate/study run, from its stored scores."""
    scores = read_scores(directory)
    if "space" not in scores.columns:  # a single-column run stored before the common format
        config = meta.get("config", {})
        scores.insert(0, "task", config.get("task"))
        scores.insert(0, "space", config.get("space"))
    inputs = {c["column"]: c.get("input", "real") for c in meta.get("columns", [])}
    settings = {c["column"]: (c.get("batch_size"), c.get("proxy_options")) for c in meta.get("columns", [])}
    if "data" in meta:
        inputs = {f"{scores['space'].iloc[0]}/{scores['task'].iloc[0]}": meta["data"].get("input", "real")}
    corrs, summaries = [], []
    for (space, task), part in scores.groupby(["space", "task"], sort=False):
        draws: dict = {}
        corr = correlation_table(part.drop(columns=["space", "task"]), space, task, draws=draws)
        summary = summarise(corr, draws)
        summary["at_ceiling"] = summary["proxy"].map(at_ceiling(part, *settings.get(f"{space}/{task}", (None, None))))
        summary["input"] = inputs.get(f"{space}/{task}", "real")
        corrs.append(corr)
        summaries.append(summary)
    corr, summary = pd.concat(corrs, ignore_index=True), pd.concat(summaries, ignore_index=True)
    write_csv(corr, directory / "correlations.csv")
    write_csv(summary, directory / "summary.csv")
    reference = reference or meta.get("reference")
    if reference and not Path(reference).is_file():
        reference = None
    name = run_title(meta) if "study" in meta else f"{meta.get('config', {}).get('space')}-" \
                                                    f"{meta.get('config', {}).get('task')}"
    return render(summary, scores, directory, name, reference)
