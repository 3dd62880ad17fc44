"""`swapbench data fetch`: download, verify and place the data sources of `swapbench.data.sources`.

Every download goes to `DATA/.swapbench/downloads/NAME.part` (resumed with an HTTP Range request when a
previous run left one), is verified (published md5, or the expected layout where none is published), and
only then is moved or unpacked into place with a rename: an interrupted or failed fetch leaves nothing
that looks complete. A mirror (`--mirror URL` or $SWAPBENCH_MIRROR) serves every file under its canonical
name at its root; its files must still match the published checksums unless `accept_unverified` is set,
and then the manifest marks them unverified, which `swapbench data status` shows.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swapbench.data.download import (
    TransferProgress,
    download,
    google_drive_url,
    md5sum,
    resolve_google_drive,
)
from swapbench.data.sources import (
    MIRROR_ENV,
    NATS_TSS_DIR,
    NB201_ARCHS,
    NB201_COLUMNS,
    SOURCES,
    Item,
    Source,
    fetch_command,
    item_state,
    record,
    source_names,
    state_dir,
)
from swapbench.errors import DataError


@dataclass
class FetchOptions:
    mirror: str | None = None  # base URL; None: $SWAPBENCH_MIRROR, else the canonical sources
    accept_unverified: bool = False  # keep a mirror's file whose checksum does not match (flagged)
    nats: str | None = None  # NATS-Bench topology benchmark (fast-mode dir) to convert for `nb201`
    force: bool = False  # fetch again what is already present
    retries: int = 3  # resumed retries when a transfer breaks off
    timeout: float = 60.0
    backoff: float = 2.0  # seconds x attempt between retries
    progress: Callable[[], TransferProgress] = TransferProgress
    log: Callable[[str], object] = print

    def mirror_base(self) -> str | None:
        base = self.mirror or os.environ.get(MIRROR_ENV) or None
        return base.rstrip("/") if base else None


@dataclass
class Fetched:
    source: str
    target: str
    action: str  # fetched / skipped / converted
    verification: str = ""
    url: str = ""


@dataclass
class _Download:
    url: str
    from_mirror: bool
    extra: dict = field(default_factory=dict)


def fetch(names: list[str], data_dir: Path, options: FetchOptions | None = None) -> list[Fetched]:
    """Fetch the named sources (`all` for every one). With several sources a failure does not stop the
    others; the error then lists every source that failed."""
    options = options or FetchOptions()
    names = source_names(names)
    data_dir = Path(data_dir)
    if options.force or any(item_state(data_dir, item).state != "present"
                            for name in names for item in SOURCES[name].items):
        writable(data_dir)  # a read-only data dir that holds everything is fine
    done: list[Fetched] = []
    failed: list[str] = []
    for name in names:
        try:
            done += fetch_source(name, data_dir, options)
        except DataError as exc:
            if len(names) == 1:
                raise
            failed.append(f"{name} ({exc})")
    if failed:
        ok = sorted({f.source for f in done})
        raise DataError(("fetched " + ", ".join(ok) + "; " if ok else "") + "could not fetch " + "; ".join(failed))
    return done


def writable(data_dir: Path) -> Path:
    """Create the data dir and its state folder, or say in one line why that is impossible."""
    try:
        state_dir(data_dir).mkdir(parents=True, exist_ok=True)
        probe = state_dir(data_dir) / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise DataError(f"cannot write to the data dir {data_dir} ({exc.strerror or exc}); fetch into another "
                        "one with --data-dir DIR (or $SWAPBENCH_DATA)") from None
    return data_dir


def fetch_source(name: str, data_dir: Path, options: FetchOptions, items: list[Item] | None = None) -> list[Fetched]:
    source = SOURCES[name]
    results, todo = [], []
    for item in items or list(source.items):
        state = item_state(data_dir, item)
        if state.state == "present" and not options.force:
            options.log(f"{item.target}: present, skipped (--force fetches it again)")
            results.append(Fetched(name, item.target, "skipped", state.detail))
        else:
            todo.append(item)
    if todo and name == "nb201" and _nats_path(options) is not None:
        return results + _convert_nb201(data_dir, options)
    return results + [fetch_item(source, item, data_dir, options) for item in todo]


def _where(source: Source, item: Item, options: FetchOptions) -> _Download:
    base = options.mirror_base()
    if base:
        return _Download(f"{base}/{urllib.parse.quote(item.name)}", True)
    if item.url:
        return _Download(item.url, False)
    if item.gdrive_id:
        return _Download(resolve_google_drive(google_drive_url(item.gdrive_id), options.timeout), False)
    raise DataError(f"{item.name} has no single-file download: {source.note}; pass --mirror URL (a local "
                    f"folder works too: --mirror file:///DIR)")


def fetch_item(source: Source, item: Item, data_dir: Path, options: FetchOptions) -> Fetched:
    where = _where(source, item, options)
    downloads = state_dir(data_dir) / "downloads"
    part = downloads / f"{item.name}.part"
    origin = downloads / f"{item.name}.part.url"
    if part.exists() and (not origin.exists() or origin.read_text().strip() != where.url):
        part.unlink()  # a partial file from another URL is not resumed
    downloads.mkdir(parents=True, exist_ok=True)
    origin.write_text(where.url + "\n")
    try:
        download(where.url, part, label=item.name, progress=options.progress(), retries=options.retries,
                 timeout=options.timeout, backoff=options.backoff)
    except DataError:
        if not part.exists():  # nothing to resume
            origin.unlink(missing_ok=True)
        raise
    try:
        verification, digest = _verify_download(source, item, part, where, options)
        if item.is_archive:
            verification = _unpack(item, part, data_dir, where, options, verification)
        else:
            dest = data_dir / item.target
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, dest)
    finally:  # placed or refused: no .part stays behind
        part.unlink(missing_ok=True)
        origin.unlink(missing_ok=True)
    record(data_dir, item.target, dict(source=source.name, file=item.name, url=where.url, md5=digest,
                                       verification=verification,
                                       fetched=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    options.log(f"{item.target}: fetched from {where.url} ({verification})")
    return Fetched(source.name, item.target, "fetched", verification, where.url)


def _refuse(part: Path, message: str) -> DataError:
    part.unlink(missing_ok=True)
    return DataError(message + "; nothing was kept")


def _verify_download(source: Source, item: Item, part: Path, where: _Download,
                     options: FetchOptions) -> tuple[str, str]:
    """(verification text, md5) for a finished download, or raise and delete it."""
    digest = md5sum(part)
    if item.md5:
        if digest == item.md5:
            return f"md5 {digest} matches the published one", digest
        hint = (" (a mirror's repacked copy can be kept, flagged unverified, with --accept-unverified)"
                if where.from_mirror else "")
        if where.from_mirror and options.accept_unverified:
            return f"unverified: md5 {digest} is not the published {item.md5}", digest
        raise _refuse(part, f"{item.name} from {where.url} has md5 {digest}, not the published {item.md5}{hint}")
    if item.is_archive:
        return "archive (members checked below)", digest
    problem = check_layout(item, part)
    if problem:
        raise _refuse(part, f"{item.name} from {where.url} is not a {source.description} file: {problem}")
    return "layout checked (no checksum is published)", digest


def check_layout(item: Item, path: Path) -> str | None:
    """Why a file with no published checksum does not look like what it should be (None if it does)."""
    if item.target in NB201_COLUMNS:
        return _check_nb201_csv(path, NB201_COLUMNS[item.target])
    return _check_nbsz_json(item.name, path)


def _check_nbsz_json(name: str, path: Path) -> str | None:
    """The table's top-level layout must be the one the spaces read: prefix keys, then every task."""
    from swapbench.spaces import SPACES

    expected = [(sp.nbsz_prefix, set(sp.tasks)) for sp in SPACES if sp.nbsz_file == name]
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"not JSON ({exc})"
    for prefix, tasks in expected:
        node = data
        for key in prefix:
            if not isinstance(node, dict) or key not in node:
                return f"no '{key}' section"
            node = node[key]
        if not isinstance(node, dict):
            return "not a JSON object of tasks"
        missing = sorted(tasks - set(node))
        if missing:
            return f"no task '{missing[0]}'"
        for task in tasks:
            entries = node[task]
            if not isinstance(entries, dict) or not entries:
                return f"task '{task}' has no architectures"
            first = next(iter(entries.values()))
            if not isinstance(first, dict) or "val_accuracy" not in first:
                return f"task '{task}': entries have no val_accuracy"
    return None


def _check_nb201_csv(path: Path, columns: list[str]) -> str | None:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        return f"not CSV ({exc})"
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        return f"no column '{missing[0]}'"
    if len(frame) != NB201_ARCHS:
        return f"{len(frame)} rows, not {NB201_ARCHS}"
    return None


def _safe_members(tar: tarfile.TarFile, root: str) -> list[tarfile.TarInfo]:
    """The archive's files and folders under `root/`, refusing links and paths that leave it."""
    chosen = []
    for member in tar.getmembers():
        name = member.name.lstrip("./") if member.name.startswith("./") else member.name
        parts = Path(name).parts
        if not parts or parts[0] != root:
            continue
        if Path(name).is_absolute() or ".." in parts:
            raise DataError(f"archive member {member.name!r} leaves its folder")
        if not (member.isfile() or member.isdir()):
            continue
        member.name = name
        chosen.append(member)
    return chosen


def _unpack(item: Item, part: Path, data_dir: Path, where: _Download, options: FetchOptions,
            verification: str) -> str:
    """Unpack into a temporary folder inside the data dir, check the members, then rename into place."""
    tmp = Path(tempfile.mkdtemp(prefix="unpack-", dir=state_dir(data_dir)))
    try:
        try:
            with tarfile.open(part) as tar:
                members = _safe_members(tar, item.archive_root)
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmp, members=members, **kwargs)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise _refuse(part, f"{item.name} from {where.url} is not a readable tar archive ({exc})") from None
        folder = tmp / item.archive_root
        missing = [m for m, _ in item.members if not (folder / m).is_file()]
        if missing:
            raise _refuse(part, f"{item.name} from {where.url} has no {item.archive_root}/{missing[0]}")
        bad = [(m, md5sum(folder / m), want) for m, want in item.members if want]
        bad = [b for b in bad if b[1] != b[2]]
        if bad:
            name, got, want = bad[0]
            if not (where.from_mirror and options.accept_unverified):
                hint = " (--accept-unverified keeps a mirror's copy, flagged)" if where.from_mirror else ""
                raise _refuse(part, f"{item.name} from {where.url}: {item.archive_root}/{name} has md5 {got}, not "
                                    f"the published {want} ({len(bad)} file(s) differ){hint}")
            verification = f"unverified: {len(bad)} of {len(item.members)} files differ from the published md5s"
        elif any(want for _, want in item.members):
            verification = f"md5 of all {len(item.members)} files match the published ones"
        dest = data_dir / item.target
        if dest.exists():
            os.replace(dest, tmp / "previous")
        os.replace(folder, dest)
        part.unlink(missing_ok=True)
        return verification
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# nb201: conversion from NATS-Bench


def default_nats_path() -> Path:
    torch_home = os.environ.get("TORCH_HOME") or str(Path.home() / ".torch")
    return Path(torch_home).expanduser() / NATS_TSS_DIR


def _nats_path(options: FetchOptions) -> Path | None:
    """--nats PATH; else, without a mirror, the NATS-Bench default location when it exists."""
    if options.nats:
        return Path(options.nats).expanduser()
    if options.mirror_base() is None and default_nats_path().is_dir():
        return default_nats_path()
    if options.mirror_base() is None:
        raise DataError(f"nb201 is converted from the NATS-Bench topology benchmark: download {NATS_TSS_DIR} "
                        "(D-X-Y/NATS-Bench), `pip install nats_bench`, then `swapbench data fetch nb201 --nats "
                        "PATH`; or pass --mirror URL with the converted CSVs")
    return None


def _convert_nb201(data_dir: Path, options: FetchOptions) -> list[Fetched]:
    from swapbench.data.nats import convert, open_nats

    path = _nats_path(options)
    api = open_nats(path)
    downloads = state_dir(data_dir) / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    parts = convert(api, downloads, unique_str=_unique_str(), log=options.log)
    results = []
    for target, part in parts.items():
        problem = _check_nb201_csv(part, NB201_COLUMNS[target])
        if problem:
            raise _refuse(part, f"conversion of {path} gave a bad {Path(target).name}: {problem}")
    for target, part in parts.items():
        dest = data_dir / target
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, dest)
        verification = f"converted from {path} (layout checked)"
        record(data_dir, target, dict(source="nb201", file=Path(target).name, url=str(path), md5=md5sum(dest),
                                      verification=verification,
                                      fetched=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        options.log(f"{target}: {verification}")
        results.append(Fetched("nb201", target, "converted", verification, str(path)))
    return results


def _unique_str() -> Callable[[str], str] | None:
    try:
        from nats_bench.genotype_utils import topology_str2structure
    except ImportError:
        return None
    return lambda arch: topology_str2structure(arch).to_unique_str(True)


# --------------------------------------------------------------------------------------------
# --download: what a run needs


def run_needs(space_name: str, task: str, truth: str | None, proxies: list[str]) -> list[tuple[str, Item]]:
    """(source, item) pairs a correlate run reads: its truth table and, if a metric reads images, its images."""
    from swapbench.data.benchmarks import DEFAULT_TRUTH
    from swapbench.proxies import get_proxy
    from swapbench.spaces import get_space
    from swapbench.spaces.base import CsvTruth

    space = get_space(space_name)
    info = space.task(task)
    targets: list[str] = []
    truth = truth or DEFAULT_TRUTH
    if truth == DEFAULT_TRUTH:
        targets.append(f"nas-bench-suite-zero/{space.nbsz_file}")
    elif isinstance(space.extra_truths.get(truth), CsvTruth):
        targets.append(space.extra_truths[truth].path)
    if any(get_proxy(p).data == "batch" for p in proxies):
        targets.append({"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python",
                        "imagenet16-120": "ImageNet16"}.get(info.dataset, ""))
    needs = []
    for source in SOURCES.values():
        needs += [(source.name, item) for item in source.items if item.target in targets]
    return needs


def usable(data_dir: Path, item: Item) -> bool:
    """Whether the loaders can read the item as it is (partial copies and the ImageNet16 substitute can)."""
    state = item_state(data_dir, item).state
    return state in ("present", "unverified", "substitute") or (item.is_archive and state == "partial" and any(
        (Path(data_dir) / item.target / m).is_file() for m, _ in item.members))


def ensure(needs: list[tuple[str, Item]], data_dir: Path, options: FetchOptions) -> list[Fetched]:
    """Fetch the needed items the data dir cannot serve; the rest is left alone."""
    data_dir = Path(data_dir)
    todo = [(name, item) for name, item in needs if not usable(data_dir, item)]
    if not todo:
        return []
    writable(data_dir)
    done = []
    for name in dict.fromkeys(n for n, _ in todo):
        items = [item for n, item in todo if n == name]
        try:
            done += fetch_source(name, data_dir, options, items)
        except DataError as exc:
            raise DataError(f"--download: {exc} (by hand: `{fetch_command([name], data_dir)}`)") from None
    return done
