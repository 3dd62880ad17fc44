"""The ablations' run directories: the paper's tables side by side with ours (Table 3; Tables 4-6), the
model-size histogram (Appendix B, Figs. 9-11) and Spearman against input size (Appendix D, Fig. 15), written
as the same files as any run (run.json, scores.csv.gz, correlations.csv, summary.csv, summary.md, figures/).
Figures: matplotlib with the Agg backend, PNG and PDF, sized for one paper column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from swapbench.report.figures import PAPER_WIDTH_IN, SPACE_NAMES, STYLE, plt, save
from swapbench.report.run import FIGURES, SCORES, read_meta, write_scores
from swapbench.report.scatter import scatter_figure
from swapbench.report.tables import atomic_write, write_csv, write_json
from swapbench.study import ablation as ab
from swapbench.study.engine import StudyResult


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
        return save(fig, stem)


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
        return save(fig, stem)


def _num(v: float, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def _notes(meta: dict[str, Any]) -> list[str]:
    notices = [n for c in meta.get("columns", []) for n in c.get("notices", [])] or meta.get("notices", [])
    return ["", *[f"- note: {n}" for n in notices]] if notices else []


# ---------------------------------------------------------------------------------------------
# input size (Table 3)


def input_size_markdown(table: pd.DataFrame, meta: dict[str, Any]) -> str:
    info = meta["ablation"]
    cfg = info["config"]
    column = (meta.get("columns") or [{}])[0]
    lines = [
        f"# Input-size ablation (paper Table 3): {cfg['space']} / {cfg['task']}",
        "",
        f"{int(table['n'].max())} architectures (seed {cfg['seed']}) of truth table "
        f"'{column.get('truth', {}).get('name', cfg.get('truth'))}', one fixed batch of {cfg['batch_size']} images, "
        f"inputs made by `{cfg['resize']}`; SWAP repeats {cfg['repeats']} (init gaussian); |A| and SWAP from one "
        f"forward; reg-SWAP = SWAP x f(Theta), form `{cfg['form']}`, mu = {info['mu']:g}, sigma = "
        f"{info['sigma']:g} (millions of parameters). Values: mean ± std over architectures (std with ddof=0); "
        "rho: Spearman with accuracy ('–': undefined, every architecture has the same value).",
        "",
        "| metric | input | fed to net | ours: mean ± std | ours rho | paper: mean ± std | paper rho |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        lines.append(
            f"| {ab.METRIC_LABELS[r['metric']].replace('|', chr(92) + '|')} | {r['input_size']}x{r['input_size']} | "
            f"{r['effective_size']}x{r['effective_size']} | {_num(r['mean'])} ± {_num(r['std'])} | "
            f"{_num(r['spearman'])} | {_num(r['paper_mean'])} ± {_num(r['paper_std'])} | {_num(r['paper_spearman'])} |"
        )
    return "\n".join(lines + _notes(meta)) + "\n"


def render_input_size(per_size: pd.DataFrame, meta: dict[str, Any], directory: Path) -> pd.DataFrame:
    """summary.csv / summary.md / the figure, from the per-size scores (ablation.input_size_scores)."""
    table = ab.input_size_table(per_size)
    write_csv(table, directory / "summary.csv")
    atomic_write(directory / "summary.md", input_size_markdown(table, meta))
    input_size_figure(table, ab.METRIC_LABELS, directory / FIGURES / "spearman_vs_input_size")
    return table


def write_input_size(result: StudyResult, directory: Path) -> pd.DataFrame:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_scores(result.scores, directory / SCORES)
    write_csv(result.correlations, directory / "correlations.csv")
    table = render_input_size(ab.input_size_scores(result.scores, result.meta["ablation"]), result.meta, directory)
    scatter_figure(result.scores, "input-size ablation: score against accuracy", directory / FIGURES / "scatter")
    write_json(result.meta, directory / "run.json")
    return table


# ---------------------------------------------------------------------------------------------
# regulariser (Tables 4-6)


def regularisation_markdown(table: pd.DataFrame, meta: dict[str, Any], scores: pd.DataFrame) -> str:
    info = meta["ablation"]
    cfg = info["config"]
    groups = list(range(1, cfg["groups"] + 1))
    theta = scores["params_m"]
    lines = [
        f"# Regulariser ablation (paper {info['paper_table'] or 'Appendix B'}): {cfg['space']} / {cfg['task']}",
        "",
        f"{cfg['groups']} disjoint groups of {info['group_size']} architectures (group size = min(1000, available // "
        f"{cfg['groups']}) = min(1000, {info['available']} // {cfg['groups']}) unless --group-size is given; the "
        f"paper uses groups of 1000) from truth table '{info['truth']}'. Group k is scored with seed "
        f"{cfg['seed']}+k-1 (its own fixed batch of {info['batch_size']} images and initialisation). Psi = `swap` "
        f"(repeats {info['repeats']}), Theta = `params` (executed parameters, millions: "
        f"{theta.min():.3f} to {theta.max():.3f}, median {theta.median():.3f}). Cells: Spearman of "
        "Psi * f(Theta) with accuracy; in brackets the paper's value. Forms: `paper` f = exp(-((Theta-mu)/sigma)^2), "
        "`code` f = exp(-(Theta-mu)^2/sigma). 'zero' = the largest share of a group whose score underflows "
        "to exactly 0 (tied).",
    ]
    for form in cfg["forms"]:
        part = table[table["form"] == form]
        lines += ["", f"## form `{form}`", "",
                  "| block | mu | sigma | " + " | ".join(f"G{g}" for g in groups) + " | mean | paper mean | zero |",
                  "|---|---|---|" + "---|" * (len(groups) + 3)]
        for _, r in part.iterrows():
            cells = []
            for g in groups:
                ours, paper = r.get(f"g{g}", np.nan), r.get(f"paper_g{g}", np.nan)
                cells.append(_num(ours) + ("" if pd.isna(paper) else f" ({paper:.2f})"))
            mu = "N/A" if pd.isna(r["mu"]) else f"{r['mu']:g}"
            sigma = "N/A" if pd.isna(r["sigma"]) else f"{r['sigma']:g}"
            lines.append(f"| {r['block']} | {mu} | {sigma} | " + " | ".join(cells)
                         + f" | {_num(r['mean'])} | {_num(r['paper_mean'])} | {r['max_zero_fraction']:.2f} |")
    return "\n".join(lines + _notes(meta)) + "\n"


def render_regularisation(per_arch: pd.DataFrame, meta: dict[str, Any], directory: Path) -> pd.DataFrame:
    """correlations.csv (per group and grid row), summary.csv / summary.md, the size histogram."""
    info = meta["ablation"]
    long = ab.apply_grid(per_arch, ab.grid_rows(info), info["config"]["forms"])
    table = ab.grid_table(long)
    write_csv(long, directory / "correlations.csv")
    write_csv(table, directory / "summary.csv")
    atomic_write(directory / "summary.md", regularisation_markdown(table, meta, per_arch))
    model_size_histogram(per_arch["params_m"], info["config"]["space"], info["config"]["task"],
                         directory / FIGURES / "model_size_hist")
    return table


def write_regularisation(result: StudyResult, directory: Path) -> pd.DataFrame:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_scores(result.scores, directory / SCORES)
    per_arch = ab.regularisation_scores(result.scores, result.meta["ablation"]["group_seeds"])
    table = render_regularisation(per_arch, result.meta, directory)
    scatter_figure(result.scores, "regulariser ablation: score against accuracy", directory / FIGURES / "scatter")
    write_json(result.meta, directory / "run.json")
    return table


# ---------------------------------------------------------------------------------------------
# re-rendering stored ablations


def rerender_ablation(directory: Path) -> str:
    """Tables and figures of a stored ablation from its scores; also reads the per-size / per-group
    scores.csv that runs stored before the common format."""
    meta = read_meta(directory)
    info = meta["ablation"]
    if (directory / SCORES).is_file():
        scores = pd.read_csv(directory / SCORES)
        if info["kind"] == "input-size":
            render_input_size(ab.input_size_scores(scores, info), meta, directory)
        else:
            render_regularisation(ab.regularisation_scores(scores, info["group_seeds"]), meta, directory)
        scatter_figure(scores, f"{info['kind']} ablation: score against accuracy", directory / FIGURES / "scatter")
        return f"ablation-{info['kind']}"
    legacy = pd.read_csv(directory / "scores.csv")
    if info["kind"] == "input-size":
        info.setdefault("native", max(int(e) for e in info["effective_sizes"].values()))
        info["config"].setdefault("batch_size", meta.get("resolved", {}).get("batch_size"))
        render_input_size(legacy, meta, directory)
    else:
        info.setdefault("truth", meta.get("data", {}).get("truth", {}).get("name"))
        info.setdefault("batch_size", meta.get("resolved", {}).get("batch_size"))
        info.setdefault("repeats", meta.get("resolved", {}).get("proxy_options", {}).get("swap", {}).get("repeats"))
        if info["grid"] and len(info["grid"][0]) == 3:  # rows stored without the paper's values: look them up
            published = {(g.block, g.mu, g.sigma): g.paper
                         for g in ab.default_grid(info["config"]["space"], None)[0]} if info.get("paper_table") else {}
            info["grid"] = [[b, m, sg, published.get((b, m, sg))] for b, m, sg in info["grid"]]
        render_regularisation(legacy, meta, directory)
    return f"ablation-{info['kind']} (stored before the common format: scores.csv)"
