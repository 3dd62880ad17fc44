"""SQLite score cache: every score is committed the moment it is computed, so a killed run loses at
most the architecture in flight and a re-run recomputes nothing that is stored."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

SCHEMA = """
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


def _store(score: float) -> float | str:
    """SQLite has no NaN (it would become NULL): a not-applicable score is kept as the text "nan"."""
    score = float(score)
    return "nan" if score != score else score


class ScoreCache:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.db.commit()

    def register(self, key: str, config: dict) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO configs (key, config) VALUES (?, ?)", (key, json.dumps(config, sort_keys=True))
        )
        self.db.commit()

    def get(self, key: str, seed: int, arch: str) -> float | None:
        row = self.db.execute(
            "SELECT score FROM scores WHERE key=? AND seed=? AND arch=?", (key, seed, arch)
        ).fetchone()
        return None if row is None else float(row[0])  # float("nan") reads the stored "nan" back

    def put(self, key: str, seed: int, arch: str, score: float, seconds: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO scores (key, seed, arch, score, seconds, created) VALUES (?,?,?,?,?,?)",
            (key, seed, arch, _store(score), float(seconds), time.time()),
        )
        self.db.commit()

    def put_many(self, rows: list[tuple[str, int, str, float, float]]) -> None:
        """(key, seed, arch, score, seconds) rows in one transaction."""
        now = time.time()
        self.db.executemany(
            "INSERT OR REPLACE INTO scores (key, seed, arch, score, seconds, created) VALUES (?,?,?,?,?,?)",
            [(k, s, a, _store(v), float(t), now) for k, s, a, v, t in rows],
        )
        self.db.commit()

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
