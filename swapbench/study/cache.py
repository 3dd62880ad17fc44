"""SQLite score cache: every score is committed the moment it is computed, so a killed run loses at
most the architecture in flight and a re-run recomputes nothing that is stored.

A file that is not a score cache (another program's database, a truncated or garbage file, a cache of
a newer format) is refused with a one-line error and left untouched: nothing is ever deleted here."""

from __future__ import annotations

import errno
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from swapbench.errors import StorageError

# bump when the tables change shape; a cache with a higher number was written by a newer swapbench
FORMAT_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS configs (
    key TEXT PRIMARY KEY,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    key TEXT NOT NULL,
    seed INTEGER NOT NULL,
    arch TEXT NOT NULL,
    score REAL NOT NULL,
    seconds REAL NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (key, seed, arch)
);
"""
COLUMNS = {"configs": ["key", "config"], "scores": ["key", "seed", "arch", "score", "seconds", "created"]}


def _store(score: float) -> float | str:
    """SQLite has no NaN (it would become NULL): a not-applicable score is kept as the text "nan"."""
    score = float(score)
    return "nan" if score != score else score


def storage_error(path: Path, exc: BaseException, what: str = "score cache") -> StorageError:
    """One line naming the file, what went wrong and the way out."""
    text = str(exc).lower()
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or "disk is full" in text or "no space" in text:
        return StorageError(f"disk full while writing {what} {path}; free some space (or pass another location) "
                            "and re-run: every score committed so far is kept")
    if code in (errno.EACCES, errno.EROFS, errno.EPERM) or "readonly" in text or "read-only" in text \
            or "unable to open" in text:
        flag = "--cache" if what == "score cache" else "--out"
        return StorageError(f"cannot write {what} {path} ({exc}); pass {flag} with a path on a writable filesystem")
    if "not a database" in text or "encrypted" in text or "malformed" in text:
        return StorageError(f"{path} is not a swapbench score cache (not a readable SQLite database: {exc}); "
                            "pass another --cache, or move that file away (it was left untouched)")
    return StorageError(f"{what} {path}: {exc}")


class ScoreCache:
    def __init__(self, path: Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise StorageError(f"score cache {self.path} is a directory; pass --cache with a file path "
                               "(e.g. runs/cache.sqlite)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(self.path, exc) from None
        existed = self.path.is_file() and self.path.stat().st_size > 0
        try:
            self.db = sqlite3.connect(str(self.path), timeout=60)
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from None
        try:
            self._open(existed)
        except sqlite3.Error as exc:
            self.db.close()
            raise storage_error(self.path, exc) from None
        except StorageError:
            self.db.close()
            raise

    def _open(self, existed: bool) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if existed:
            ours = set(COLUMNS) | {"meta"}
            for table, columns in COLUMNS.items():
                found = [r[1] for r in self.db.execute(f"PRAGMA table_info({table})")]
                if table in tables and found != columns:
                    tables = set()  # reported below as a foreign schema
                    break
            if not set(COLUMNS) <= tables:
                other = ", ".join(sorted(tables - ours)) or "no score tables"
                raise StorageError(f"{self.path} is an SQLite database but not a swapbench score cache "
                                   f"(holds: {other}); pass another --cache, or move that file away "
                                   "(it was left untouched)")
        if "meta" in tables:
            row = self.db.execute("SELECT value FROM meta WHERE name='format'").fetchone()
            if row is not None and int(row[0]) > FORMAT_VERSION:
                raise StorageError(f"score cache {self.path} has format {row[0]}, written by a newer swapbench "
                                   f"(this one reads format {FORMAT_VERSION}); upgrade swapbench or pass another "
                                   "--cache")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('format', ?)", (str(FORMAT_VERSION),))
        self.db.commit()

    def _write(self, sql: str, rows: list[tuple]) -> None:
        try:
            self.db.executemany(sql, rows)
            self.db.commit()
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from None

    def register(self, key: str, config: dict) -> None:
        self._write("INSERT OR IGNORE INTO configs (key, config) VALUES (?, ?)",
                    [(key, json.dumps(config, sort_keys=True))])

    def get(self, key: str, seed: int, arch: str) -> float | None:
        row = self.db.execute(
            "SELECT score FROM scores WHERE key=? AND seed=? AND arch=?", (key, seed, arch)
        ).fetchone()
        return None if row is None else float(row[0])  # float("nan") reads the stored "nan" back

    def put(self, key: str, seed: int, arch: str, score: float, seconds: float) -> None:
        self.put_many([(key, seed, arch, score, seconds)])

    def put_many(self, rows: list[tuple[str, int, str, float, float]]) -> None:
        """(key, seed, arch, score, seconds) rows in one transaction."""
        now = time.time()
        self._write("INSERT OR REPLACE INTO scores (key, seed, arch, score, seconds, created) VALUES (?,?,?,?,?,?)",
                    [(k, s, a, _store(v), float(t), now) for k, s, a, v, t in rows])

    def put_missing(self, rows: list[tuple[str, int, str, float, float]]) -> int:
        """(key, seed, arch, score, seconds) rows that the cache does not hold yet, in one transaction; the
        number added (a stored score is never replaced)."""
        before = self.db.total_changes
        now = time.time()
        self._write("INSERT OR IGNORE INTO scores (key, seed, arch, score, seconds, created) VALUES (?,?,?,?,?,?)",
                    [(k, s, a, _store(v), float(t), now) for k, s, a, v, t in rows])
        return self.db.total_changes - before

    def fetch(self, key: str, seed: int, archs: Iterable[str]) -> dict[str, tuple[float, float]]:
        """{arch: (score, seconds)} for the stored ones among `archs`."""
        wanted = set(archs)
        rows = self.db.execute("SELECT arch, score, seconds FROM scores WHERE key=? AND seed=?", (key, seed))
        return {a: (float(s), t) for a, s, t in rows if a in wanted}

    def count(self, key: str | None = None) -> int:
        if key is None:
            return int(self.db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM scores WHERE key=?", (key,)).fetchone()[0])

    def close(self) -> None:
        self.db.close()
