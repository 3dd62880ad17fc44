"""`swapbench data status`: what the data dir holds, with counts and substitute flags."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from swapbench.data.benchmarks import NBSZ_DIR
from swapbench.data.images import DATASETS
from swapbench.errors import DataError

# image folders that stand in for data that is not available, and what they replace
SUBSTITUTES = {
    "ImageNet16-reconstructed": "ImageNet16-120 (box-resized real ImageNet-derived images; not the benchmark pixels)",
    "natural-images-256": "Taskonomy RGB inputs of TransNAS-Bench-101",
}


def _usable(file: Path, task: str, data_dir: Path) -> str:
    """How many rows a run can use: validated as a run validates it (finite accuracy, one row per network)."""
    from swapbench.data.benchmarks import load_truth
    from swapbench.spaces import SPACES

    for space in SPACES:
        if space.nbsz_file == file.name and task in space.tasks:
            try:
                return f"{len(load_truth(space, task, data_dir))} usable"
            except DataError as exc:
                return f"unusable: {' '.join(str(exc).split())[:60]}"
    return "usable: ?"


def _nbsz_rows(folder: Path) -> list[dict]:
    rows = []
    for file in sorted(folder.glob("zc_*.json")):
        try:
            data = json.loads(file.read_text())
        except json.JSONDecodeError:
            rows.append(dict(item=f"{NBSZ_DIR}/{file.name}", kind="truth+proxies", count="CORRUPT JSON",
                             substitute="", note=""))
            continue
        if "nasbench101" in data:
            data = data["nasbench101"]
        for task, entries in data.items():
            rows.append(dict(item=f"{NBSZ_DIR}/{file.name}", kind="truth+proxies",
                             count=f"{len(entries)} archs, {_usable(file, task, folder.parent)}",
                             substitute="no", note=task))
    zen = sorted((folder / "zen").glob("*.json")) if (folder / "zen").is_dir() else []
    if zen:
        tasks = sorted({f.name.split("--")[2] for f in zen if f.name.count("--") >= 3})
        rows.append(dict(item=f"{NBSZ_DIR}/zen/", kind="truth (full space)", count=f"{len(zen)} files",
                         substitute="no", note=", ".join(tasks)))
    return rows


def inventory(data_dir: Path) -> pd.DataFrame:
    rows: list[dict] = []
    nbsz = data_dir / NBSZ_DIR
    if nbsz.is_dir():
        rows += _nbsz_rows(nbsz)
    for csv in sorted((data_dir / "nas-bench-201").glob("*.csv")) if (data_dir / "nas-bench-201").is_dir() else []:
        with open(csv) as fh:
            n = sum(1 for _ in fh) - 1
        rows.append(dict(item=f"nas-bench-201/{csv.name}", kind="truth (full space)", count=f"{n} archs",
                         substitute="no", note=""))
    for name, loader in DATASETS.items():
        try:
            images = loader(data_dir)
        except DataError as exc:
            rows.append(dict(item=name, kind="images", count="missing", substitute="", note=str(exc)[:60]))
            continue
        rows.append(dict(item=f"{Path(images.source).name}/", kind=f"images ({name})",
                         count=f"{len(images)} train images, {int(images.labels.unique().numel())} classes",
                         substitute="YES" if images.substitute else "no",
                         note=SUBSTITUTES.get(Path(images.source).name, "")))
    for folder, what in SUBSTITUTES.items():
        path = data_dir / folder
        if path.is_dir() and not any(r["item"] == f"{folder}/" for r in rows):
            n = sum(1 for p in path.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            rows.append(dict(item=f"{folder}/", kind="images", count=f"{n} images", substitute="YES", note=what))
    tnb = data_dir / "taskonomy-rgb-sample"
    if tnb.is_dir():
        n = len(list(tnb.glob("*.png")))
        rows.append(dict(item="taskonomy-rgb-sample/", kind="images (taskonomy)", count=f"{n} images",
                         substitute="no", note="smoke test only"))
    if not rows:
        raise DataError(f"{data_dir} holds no benchmark data; fetch it with `swapbench data fetch all` or pass "
                        "--data-dir")
    return pd.DataFrame(rows, columns=["item", "kind", "count", "substitute", "note"])


def sources_frame(data_dir: Path) -> pd.DataFrame:
    """One row per fetchable source: its state in the data dir and the command that fetches it."""
    from swapbench.data.sources import SOURCES, source_state

    rows = []
    for name, source in SOURCES.items():
        state = source_state(data_dir, name)
        rows.append(dict(source=name, state=state.state, detail=state.detail, checked_by=source.verification,
                         fetch=state.command))
    return pd.DataFrame(rows, columns=["source", "state", "detail", "checked_by", "fetch"])
