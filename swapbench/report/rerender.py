"""`swapbench report RUN_DIR`: re-render every table and figure of a stored run from its scores, whatever
command wrote it (correlate, study, regress, the ablations, search, size control), without rescoring."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from swapbench.errors import SwapbenchError
from swapbench.report.run import read_meta, read_scores, rerender_study


def rerender(directory: Path, reference: str | None = None) -> dict[str, Any]:
    directory = Path(directory)
    if not directory.is_dir():
        raise SwapbenchError(f"{directory} is not a directory; pass a run directory (with run.json)")
    if not (directory / "run.json").is_file():
        runs = sorted(p.parent for p in directory.glob("*/run.json"))
        if runs:  # a directory of runs (e.g. one search per task and metric): each of them
            done = [rerender(run, reference) for run in runs]
            return dict(kind=f"{len(runs)} run(s)", written=[w for d in done for w in d["written"]])
    meta = read_meta(directory)
    started = time.time() - 1.0  # (file systems with coarse timestamps)
    if "ablation" in meta:
        from swapbench.report.ablation import rerender_ablation

        kind = rerender_ablation(directory)
    elif (directory / "search.csv").is_file() or (directory / "found.csv").is_file():
        from swapbench.report.search import rerender_search

        kind = rerender_search(directory, meta)
    elif "study" in meta or "config" in meta:
        rerender_study(directory, meta, reference)
        kind = meta.get("kind", "study" if "study" in meta else "correlate")
        if kind == "validate":
            from swapbench.report.validate import rerender_validation

            rerender_validation(directory, read_scores(directory), f"{meta['study']['name']}: agreement with "
                                "the stored scores")
    else:
        raise SwapbenchError(f"{directory}/run.json does not say what wrote it; nothing to re-render")
    written = sorted(p for p in directory.rglob("*") if p.is_file() and p.stat().st_mtime >= started)
    return dict(kind=kind, written=[str(p) for p in written])
