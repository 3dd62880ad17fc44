"""Outputs of `swapbench search`: the tables and the trajectory figure (best score, and the ground-truth
accuracy of the best-scored architecture, against the number of evaluations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from swapbench.report.figures import PAPER_WIDTH_IN, STYLE, plt, save
from swapbench.report.tables import atomic_write, markdown_table, write_csv

COLOURS = {"evolution": "#4477aa", "random": "#bb5566"}


def trajectory_figure(trajectory: pd.DataFrame, title: str, stem: Path) -> list[Path]:
    """One line per (seed, algorithm); a second panel with the accuracy when a truth table covered it."""
    has_acc = "best_accuracy" in trajectory and trajectory["best_accuracy"].notna().any()
    panels = 2 if has_acc else 1
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(panels, 1, figsize=(PAPER_WIDTH_IN, 2.2 * panels), sharex=True, squeeze=False)
        seen: set[str] = set()
        for (algorithm, _seed), group in trajectory.groupby(["algorithm", "seed"], sort=False):
            colour = COLOURS.get(str(algorithm), "#777777")
            label = None if algorithm in seen else str(algorithm)
            seen.add(str(algorithm))
            axes[0, 0].plot(group["index"], group["best_score"], color=colour, lw=0.9, alpha=0.8, label=label)
            if has_acc:
                axes[1, 0].plot(group["index"], group["best_accuracy"], color=colour, lw=0.9, alpha=0.8)
        axes[0, 0].set_ylabel("best score so far")
        axes[0, 0].set_title(title)
        axes[0, 0].legend(frameon=False)
        if has_acc:
            axes[1, 0].set_ylabel("its accuracy (%)")
        axes[-1, 0].set_xlabel("fitness evaluations")
        for ax in axes[:, 0]:
            ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        return save(fig, stem)


def search_markdown(summary: pd.DataFrame, results: pd.DataFrame, title: str) -> str:
    """Summary (mean ± std over seeds) then every search."""
    lines = [f"# {title}", ""]
    for _, row in summary.iterrows():
        acc = row["accuracy_mean"]
        acc_text = "–" if acc != acc else f"{acc:.2f} ± {row['accuracy_std']:.2f}"
        extra = ""
        if row["algorithm"] == "random" and not np.isnan(row.get("sample_mean_accuracy", np.nan)):
            extra = f"; a uniformly random architecture: {row['sample_mean_accuracy']:.2f}"
        lines.append(f"- **{row['algorithm']}** ({int(row['searches'])} searches): accuracy {acc_text}, "
                     f"size {row['size_mean']:.3f} ({results['size_unit'].iloc[0]} of parameters), "
                     f"{row['unique_mean']:.0f} distinct evaluations, "
                     f"{row['seconds_mean']:.1f} ± {row['seconds_std']:.1f} s{extra}")
    cols = ["seed", "algorithm", "arch_str", "score", "size", "evaluations", "unique", "computed", "seconds",
            "accuracy"]
    table = results[[c for c in cols if c in results]].copy()
    table["arch_str"] = table["arch_str"].astype(str).str.replace("|", "\\|", regex=False)  # NB201 strings
    lines += ["", markdown_table(table, digits=3)]
    return "\n".join(lines)


def size_control_figure(found: pd.DataFrame, random_sizes: np.ndarray, unit: str, title: str,
                        stem: Path, seed: int = 0) -> list[Path]:
    """Paper Fig. 5: (a) sizes of random models, (b) size of the found model against mu = sigma, jittered."""
    label = f"model size ({unit} of parameters)"
    with plt.rc_context(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(2 * PAPER_WIDTH_IN, 2.5))
        if len(random_sizes):
            left.hist(random_sizes, bins=30, color="#4477aa", edgecolor="white", linewidth=0.5)
        left.set_xlabel(label)
        left.set_ylabel("architectures")
        left.set_title(f"(a) {len(random_sizes)} random models")
        rng = np.random.default_rng(seed)
        mus = found["mu"].to_numpy(dtype=float)
        step = float(np.min(np.diff(np.unique(mus)))) if len(np.unique(mus)) > 1 else 1.0
        jitter = rng.uniform(-0.15, 0.15, len(mus)) * step
        right.scatter(mus + jitter, found["size"], s=12, color="#bb5566", alpha=0.8, linewidths=0)
        lo, hi = float(min(mus.min(), found["size"].min())), float(max(mus.max(), found["size"].max()))
        right.plot([lo, hi], [lo, hi], color="#999999", lw=0.7, ls="--", label="size = μ")
        right.set_xlabel("μ = σ (jittered)")
        right.set_ylabel(f"found size ({unit})")
        right.set_title("(b) found by SWAP-NAS")
        right.legend(frameon=False)
        for ax in (left, right):
            ax.spines[["top", "right"]].set_visible(False)
        fig.suptitle(title, fontsize=9, y=1.02)
        fig.tight_layout()
        return save(fig, stem)


def size_control_markdown(summary: dict, space: str, task: str) -> str:
    per_mu = pd.DataFrame(summary["per_mu"])
    return (f"# Model-size control, {space}/{task}\n\nSpearman between mu and the found size over "
            f"{summary['searches']} searches: **{summary['spearman_mu_size']:.3f}**. Sizes in {summary['unit']} of "
            f"parameters; {summary['random']['n']} random models span {summary['random']['min']:.3f} to "
            f"{summary['random']['max']:.3f} (median {summary['random']['median']:.3f}).\n\n"
            + markdown_table(per_mu))


def write_search(run: Any, summary: pd.DataFrame, title: str, directory: Path) -> None:
    """search.csv (one row per search), trajectory.csv, summary.csv / summary.md and the trajectory figure."""
    write_csv(run.results, directory / "search.csv")
    write_csv(run.trajectory, directory / "trajectory.csv")
    render_search(run.results, run.trajectory, title, directory)


def render_search(results: pd.DataFrame, trajectory: pd.DataFrame, title: str, directory: Path) -> pd.DataFrame:
    from swapbench.search import summarise_search

    summary = summarise_search(results)
    write_csv(summary, directory / "summary.csv")
    atomic_write(directory / "summary.md", search_markdown(summary, results, title))
    trajectory_figure(trajectory, title, directory / "trajectory")
    return summary


def search_title(config: dict) -> str:
    return f"{config['metric']} search on {config['space']}/{config['task']}, {len(config['seeds'])} seed(s)"


def rerender_search(directory: Path, meta: dict) -> str:
    """Tables and figures of a stored search or size-control run from its stored results."""
    config = meta["config"]
    if (directory / "found.csv").is_file():
        found = pd.read_csv(directory / "found.csv")
        sizes = pd.read_csv(directory / "random_sizes.csv")["size"].to_numpy()
        summary = meta["summary"]
        title = f"{config['space']}/{config['task']}: Spearman(μ, found size) = {summary['spearman_mu_size']:.3f}"
        size_control_figure(found, sizes, summary["unit"], title, directory / "size_control")
        atomic_write(directory / "summary.md", size_control_markdown(summary, config["space"], config["task"]))
        return "size-control"
    results = pd.read_csv(directory / "search.csv")
    if "size" not in results.columns and "params_m" in results.columns:  # stored before sizes had units
        results = results.rename(columns={"params_m": "size"}).assign(size_unit="millions")
    trajectory = pd.read_csv(directory / "trajectory.csv")
    render_search(results, trajectory, search_title(config), directory)
    return "search"
