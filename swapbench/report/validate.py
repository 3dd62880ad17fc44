"""The files of `swapbench validate`: validation.csv / validation.md (and the stored scores, so that
`swapbench report` can render them again)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from swapbench.report.run import write_scores
from swapbench.report.tables import atomic_write, markdown_table, write_csv
from swapbench.study.validate import compare_stored

STORED = "stored.csv.gz"


def validation_markdown(table: pd.DataFrame, title: str) -> str:
    return (f"# {title}\n\nPer metric, on the same architectures: Spearman between our scores and the table's "
            "stored scores (95 % bootstrap interval over architectures), each one's Spearman with accuracy, and "
            "the difference (ours − stored). Two runs of a metric on other batches and initialisations do not "
            "agree perfectly either: agreement is bounded by the metric's own seed-to-seed stability.\n\n"
            + markdown_table(table, 3))


def write_validation(scores: pd.DataFrame, stored: pd.DataFrame, directory: Path, title: str) -> pd.DataFrame:
    directory = Path(directory)
    write_scores(stored, directory / STORED)
    table = compare_stored(scores, stored)
    write_csv(table, directory / "validation.csv")
    atomic_write(directory / "validation.md", validation_markdown(table, title))
    return table


def rerender_validation(directory: Path, scores: pd.DataFrame, title: str) -> None:
    if (directory / STORED).is_file():
        write_validation(scores, pd.read_csv(directory / STORED), directory, title)
