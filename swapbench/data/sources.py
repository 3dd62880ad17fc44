"""The downloadable data sources, what each puts in the data dir, and how complete the data dir is.

Five sources: `nbsz` (NAS-Bench-Suite-Zero tables), `cifar10`, `cifar100`, `imagenet16` (the NAS-Bench-201
authors' downsampled ImageNet) and `nb201` (the full-space accuracy tables). Each is a list of items;
an item is one file as published (its canonical name is also its name at a mirror's root) and the
file or folder it becomes in the data dir. No network here: `swapbench.data.fetch` downloads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from swapbench.errors import DataError

NBSZ_DIR = "nas-bench-suite-zero"  # also swapbench.data.benchmarks.NBSZ_DIR
MIRROR_ENV = "SWAPBENCH_MIRROR"
STATE_DIR = ".swapbench"  # downloads in progress, unpacking, the manifest
MANIFEST = "manifest.json"
STATES = ("present", "partial", "unverified", "substitute", "missing")

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"
# NAS-Bench-201 authors' data folder (README of D-X-Y/NAS-Bench-201: "The training and evaluation data used
# in NAS-Bench-201 can be downloaded from Google Drive"); its ImageNet16/ holds the files below.
NB201_DATA_FOLDER = "https://drive.google.com/drive/folders/1L0Lzq8rWpZLPfiQGd6QR8q5xLV88emU7"
# NATS-Bench topology benchmark, fast-mode directory (nats_bench's default name under $TORCH_HOME)
NATS_TSS_DIR = "NATS-tss-v1_0-3ffb9-simple"


@dataclass(frozen=True)
class Item:
    name: str  # canonical file name, and the name at a mirror's root
    target: str  # the file or folder it becomes, relative to the data dir
    url: str | None = None  # canonical download URL; None: no single-file URL (see the source's note)
    md5: str | None = None  # published md5 of the downloaded file
    gdrive_id: str | None = None
    archive_root: str | None = None  # a tar's folder that becomes `target`
    members: tuple[tuple[str, str | None], ...] = ()  # files the folder must hold, with published md5s

    @property
    def is_archive(self) -> bool:
        return self.archive_root is not None


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    items: tuple[Item, ...]
    verification: str  # how a download is checked, for `data status` and the README
    note: str = ""


_CIFAR10_MEMBERS = tuple((f, None) for f in
                         [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"])
_CIFAR100_MEMBERS = (("train", None), ("test", None), ("meta", None))
# published per-file md5s of the NB201 authors' ImageNet16 (D-X-Y/AutoDL-Projects,
# xautodl/datasets/DownsampledImageNet.py)
_IN16_MEMBERS = (
    ("train_data_batch_1", "27846dcaa50de8e21a7d1a35f30f0e91"),
    ("train_data_batch_2", "c7254a054e0e795c69120a5727050e3f"),
    ("train_data_batch_3", "4333d3df2e5ffb114b05d2ffc19b1e87"),
    ("train_data_batch_4", "1620cdf193304f4a92677b695d70d10f"),
    ("train_data_batch_5", "348b3c2fdbb3940c4e9e834affd3b18d"),
    ("train_data_batch_6", "6e765307c242a1b3d7d5ef9139b48945"),
    ("train_data_batch_7", "564926d8cbf8fc4818ba23d2faac7564"),
    ("train_data_batch_8", "f4755871f718ccb653440b9dd0ebac66"),
    ("train_data_batch_9", "bb6dd660c38c58552125b1a92f86b5d4"),
    ("train_data_batch_10", "8f03f34ac4b42271a294f91bf480f29b"),
    ("val_data", "3410e3017fdaefba8d5073aaa65e4bd6"),
)
# Google Drive ids from NASLib's scripts/bash_scripts/download_nbs_zero.sh
NBSZ_IDS = {
    "zc_nasbench101.json": "1uT3tuIDMVaB4U1N8l9imEYHWPOLls3FD",
    "zc_nasbench201.json": "1k2EUtVJ4JqoJCnuyJEVgZs6vAmbg6XVB",
    "zc_nasbench301.json": "11kIyLr7LwFB_fXGDk3ic5yjiYMY5JLXG",
    "zc_transbench101_macro.json": "1nMaa3LjlP1d_umgudX7abKSdDMeoBNb5",
    "zc_transbench101_micro.json": "1i8N2n7yflN33xAuQVzlTYM4E7W1Cwn1S",
}
NB201_200EP = "nas-bench-201/nb201_all_15625_200epoch_test.csv"
NB201_12EP = "nas-bench-201/nb201_all_15625_12epoch.csv"
NB201_COLUMNS = {
    NB201_200EP: ["CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs", "ImageNetTestAccuracy200Epochs",
                  "ArchitectureString", "UniqueString"],
    NB201_12EP: ["arch", "cellstr", "cifar10-test", "cifar10-val", "cifar100-test", "cifar100-val",
                 "imagenet-test", "imagenet-val"],
}
NB201_ARCHS = 15625

SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source("nbsz", "NAS-Bench-Suite-Zero tables (ground truth + stored proxy scores)",
               tuple(Item(name, f"{NBSZ_DIR}/{name}", gdrive_id=gid) for name, gid in NBSZ_IDS.items()),
               "JSON layout (no checksum is published)"),
        Source("cifar10", "CIFAR-10, python version",
               (Item("cifar-10-python.tar.gz", "cifar-10-batches-py", CIFAR_URL + "cifar-10-python.tar.gz",
                     md5="c58f30108f718f92721af3b95e74349a", archive_root="cifar-10-batches-py",
                     members=_CIFAR10_MEMBERS),),
               "published md5 of the tarball"),
        Source("cifar100", "CIFAR-100, python version",
               (Item("cifar-100-python.tar.gz", "cifar-100-python", CIFAR_URL + "cifar-100-python.tar.gz",
                     md5="eb9058c3a382ffc7106e4002c42a8d85", archive_root="cifar-100-python",
                     members=_CIFAR100_MEMBERS),),
               "published md5 of the tarball"),
        Source("imagenet16", "ImageNet16-120 (NAS-Bench-201 authors' 16x16 downsampled ImageNet)",
               (Item("ImageNet16.tar.gz", "ImageNet16", archive_root="ImageNet16", members=_IN16_MEMBERS),),
               "published md5 of each of the 11 files",
               note=f"the NAS-Bench-201 authors publish it only as the ImageNet16/ folder of {NB201_DATA_FOLDER}; "
                    "download that folder, pack it (`tar czf ImageNet16.tar.gz ImageNet16`) and fetch it from "
                    "there"),
        Source("nb201", "NAS-Bench-201 accuracies of all 15625 archs (200-epoch test; 12-epoch)",
               tuple(Item(Path(t).name, t) for t in (NB201_200EP, NB201_12EP)),
               "CSV columns and 15625 rows (converted locally; no checksum is published)",
               note=f"converted from the NATS-Bench topology benchmark ({NATS_TSS_DIR}/, `pip install "
                    "nats_bench`) with --nats PATH, or from a mirror by file name"),
    ]
}


def source_names(names: list[str] | tuple[str, ...]) -> list[str]:
    """Expand `all`, check the names, keep the canonical order."""
    wanted = set()
    for name in names or ["all"]:
        if name == "all":
            wanted.update(SOURCES)
        elif name in SOURCES:
            wanted.add(name)
        else:
            raise DataError(f"unknown data source '{name}'; choose from {', '.join(SOURCES)} or all")
    return [n for n in SOURCES if n in wanted]


# --------------------------------------------------------------------------------------------
# the manifest: what `data fetch` placed, and how it was checked


def state_dir(data_dir: Path) -> Path:
    return Path(data_dir) / STATE_DIR


def read_manifest(data_dir: Path) -> dict[str, dict]:
    path = state_dir(data_dir) / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def record(data_dir: Path, target: str, entry: dict | None) -> None:
    """Write (or with None, drop) the manifest entry of `target`, atomically."""
    manifest = read_manifest(data_dir)
    if entry is None:
        manifest.pop(target, None)
    else:
        manifest[target] = entry
    path = state_dir(data_dir) / MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# what the data dir holds


@dataclass
class ItemState:
    state: str  # one of STATES
    detail: str = ""


def _cifar_rows(folder: Path, files: list[str]) -> int:
    import pickle

    rows = 0
    for name in files:
        with open(folder / name, "rb") as fh:
            entry = pickle.load(fh, encoding="bytes")
        rows += len(entry[b"data"] if b"data" in entry else entry["data"])
    return rows


def item_state(data_dir: Path, item: Item) -> ItemState:
    """present (complete, checked when we fetched it), partial, unverified (fetched with a checksum that did
    not match), substitute, or missing."""
    data_dir = Path(data_dir)
    path = data_dir / item.target
    entry = read_manifest(data_dir).get(item.target, {})
    unverified = entry.get("verification", "").startswith("unverified")
    if item.is_archive:
        if item.target == "ImageNet16" and not path.is_dir():
            recon = data_dir / "ImageNet16-reconstructed"
            if recon.is_dir():
                return ItemState("substitute", "ImageNet16-reconstructed/ (not the benchmark pixels)")
        if not path.is_dir():
            return ItemState("missing")
        have = [m for m, _ in item.members if (path / m).is_file()]
        if len(have) < len(item.members):
            return ItemState("partial", f"{len(have)} of {len(item.members)} files")
        if unverified:
            return ItemState("unverified", entry["verification"].removeprefix("unverified: "))
        if entry.get("verification", "").startswith("md5") or item.target == "ImageNet16":
            return ItemState("present", entry.get("verification", "all files"))
        try:  # placed by hand: count the images (partial copies are common)
            if item.target == "cifar-10-batches-py":
                n = _cifar_rows(path, [f"data_batch_{i}" for i in range(1, 6)])
            else:
                n = _cifar_rows(path, ["train"])
        except Exception as exc:  # noqa: BLE001 - any unreadable pickle makes the folder partial
            return ItemState("partial", f"unreadable ({type(exc).__name__})")
        if n < 50000:
            return ItemState("partial", f"{n} of 50000 train images")
        return ItemState("present", "50000 train images")
    if not path.is_file():
        return ItemState("missing")
    if unverified:
        return ItemState("unverified", entry["verification"].removeprefix("unverified: "))
    if item.target in NB201_COLUMNS:
        with open(path) as fh:
            rows = sum(1 for _ in fh) - 1
        if rows < NB201_ARCHS:
            return ItemState("partial", f"{rows} of {NB201_ARCHS} archs")
    return ItemState("present", entry.get("verification", ""))


@dataclass
class SourceState:
    source: str
    state: str
    detail: str
    command: str


def _combine(states: list[ItemState]) -> tuple[str, str]:
    kinds = [s.state for s in states]
    if len(states) == 1:
        return kinds[0], states[0].detail
    n = len(states)
    present = kinds.count("present")
    if present == n:
        return "present", f"{n} of {n} files"
    if kinds.count("missing") == n:
        return "missing", ""
    if "unverified" in kinds and present + kinds.count("unverified") == n:
        return "unverified", f"{kinds.count('unverified')} of {n} files unverified"
    return "partial", f"{present} of {n} files present"


def source_state(data_dir: Path, name: str) -> SourceState:
    source = SOURCES[name]
    state, detail = _combine([item_state(data_dir, item) for item in source.items])
    return SourceState(name, state, detail, fetch_command([name], data_dir))


def fetch_command(names: list[str], data_dir: Path | None = None) -> str:
    """The exact command that fetches `names` into `data_dir` (with --data-dir unless it is the default)."""
    from swapbench.data.datadir import resolve_data_dir

    command = "swapbench data fetch " + " ".join(names)
    if data_dir is not None:
        try:
            default = resolve_data_dir(None, must_exist=False).resolve()
        except DataError:
            default = None
        if Path(data_dir).resolve() != default:
            command += f" --data-dir {data_dir}"
    return command


def source_of(path: Path) -> tuple[str, Path] | None:
    """(source, data dir) for a file or folder that a source provides (or a file inside one), else None."""
    path = Path(path)
    for source in SOURCES.values():
        for item in source.items:
            parts = Path(item.target).parts
            k = len(parts)
            if len(path.parts) > k and tuple(path.parts[-k:]) == parts:
                return source.name, Path(*path.parts[:-k])
            if len(path.parts) > k + 1 and tuple(path.parts[-k - 1:-1]) == parts:
                return source.name, Path(*path.parts[:-k - 1])
    return None


def missing_hint(path: Path, fallback: str = "run `swapbench data status` to see what exists",
                 again: bool = False) -> str:
    """'fetch it with `swapbench data fetch SOURCE ...`' for a path that a source provides (`again`: a
    broken file, fetched anew with --force)."""
    found = source_of(Path(path))
    if found is None:
        return fallback
    name, data_dir = found
    if again:
        return f"fetch it again with `{fetch_command([name], data_dir)} --force`"
    return f"fetch it with `{fetch_command([name], data_dir)}`"
