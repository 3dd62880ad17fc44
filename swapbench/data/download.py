"""Resumable HTTP(S)/file downloads with stdlib urllib, and their progress display.

A download writes into a `.part` file and resumes it with an HTTP Range request when one is left over
(from an interrupted transfer or an earlier run); the caller verifies the finished `.part` and only then
moves it into place, so nothing that looks complete exists before it has been checked.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swapbench.errors import DataError

CHUNK = 1 << 16
USER_AGENT = "swapbench-fetch/1 (+python urllib)"


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


# --------------------------------------------------------------------------------------------
# progress


class TransferProgress:
    """What a download reports; this base class reports nothing (tests, library use)."""

    def start(self, label: str, total: int | None, done: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class PlainProgress(TransferProgress):
    """Periodic one-line reports for logs and pipes (a bar would fill them with control codes)."""

    write: Callable[[str], object] = field(default=lambda s: sys.stderr.write(s + "\n"))
    every: float = 10.0
    _label: str = ""
    _total: int | None = None
    _done: int = 0
    _start_done: int = 0
    _t0: float = 0.0
    _last: float = 0.0

    def start(self, label: str, total: int | None, done: int) -> None:
        self._label, self._total, self._done, self._start_done = label, total, done, done
        self._t0 = self._last = time.monotonic()
        size = human_bytes(total) if total else "unknown size"
        resumed = f", resuming at {human_bytes(done)}" if done else ""
        self.write(f"{label}: {size}{resumed}")

    def _line(self, now: float) -> str:
        rate = (self._done - self._start_done) / max(now - self._t0, 1e-9)
        text = f"{self._label}: {human_bytes(self._done)}"
        if self._total:
            text += f" of {human_bytes(self._total)} ({100 * self._done / self._total:.0f}%)"
        text += f", {human_bytes(rate)}/s"
        if self._total and rate > 0:
            text += f", ETA {max(self._total - self._done, 0) / rate:.0f}s"
        return text

    def advance(self, n: int) -> None:
        self._done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.write(self._line(now))

    def finish(self) -> None:
        self.write(self._line(time.monotonic()) + " done")


class RichProgress(TransferProgress):
    """A rich bar with bytes, speed and ETA, for a terminal."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                  console=Console(stderr=True), transient=False)
        self._task = None

    def start(self, label: str, total: int | None, done: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task(label, total=total, completed=done)

    def advance(self, n: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def finish(self) -> None:
        self._progress.stop()
        self._task = None


def terminal_progress() -> TransferProgress:
    """A bar on a terminal, plain periodic lines otherwise."""
    return RichProgress() if sys.stderr.isatty() else PlainProgress()


# --------------------------------------------------------------------------------------------
# transfer


class _Interrupted(Exception):
    def __init__(self, done: int, total: int | None, why: str):
        super().__init__(why)
        self.done, self.total, self.why = done, total, why


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "host not found (no network, or a wrong --mirror?)"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    return str(reason) or type(reason).__name__


def _open(url: str, headers: dict[str, str], timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http/https/file by design)


def _transfer(url: str, part: Path, label: str, progress: TransferProgress, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, {"Range": f"bytes={have}-"} if have else {}, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            return  # the .part is already whole; the caller's check decides
        raise DataError(f"download of {label} failed: {url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"download of {label} failed: cannot reach {url} ({_reason(exc)})") from None
    with resp:
        status = getattr(resp, "status", None) or getattr(resp, "code", None)
        if have and status == 206:
            match = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                have = 0  # a range we did not ask for: start over
        else:
            have = 0  # the server sent the whole file
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        done = have
        progress.start(label, total, have)
        try:
            with open(part, "ab" if have else "wb") as fh:
                while True:
                    try:
                        chunk = resp.read(CHUNK)
                    except (http.client.IncompleteRead, ConnectionError, TimeoutError) as exc:
                        raise _Interrupted(done, total, _reason(exc)) from None
                    if not chunk:
                        break
                    fh.write(chunk)
                    done += len(chunk)
                    progress.advance(len(chunk))
        finally:
            progress.finish()
    if total is not None and done < total:
        raise _Interrupted(done, total, "the connection closed early")


def download(url: str, part: Path, *, label: str, progress: TransferProgress | None = None, retries: int = 3,
             timeout: float = 60.0, backoff: float = 2.0) -> Path:
    """Download `url` into `part`, resuming what `part` already holds; retried (resuming) `retries` times
    when the transfer breaks off. Returns `part`; on failure the partial file stays for the next run."""
    progress = progress or TransferProgress()
    part.parent.mkdir(parents=True, exist_ok=True)
    failures = 0
    while True:
        try:
            _transfer(url, part, label, progress, timeout)
            return part
        except _Interrupted as exc:
            failures += 1
            if failures > retries:
                of = f" of {exc.total}" if exc.total else ""
                raise DataError(f"download of {label} from {url} broke off ({exc.why}) at {exc.done}{of} bytes, "
                                f"{failures} time(s); the partial file {part} is kept: re-run the same command "
                                "to resume") from None
            time.sleep(backoff * failures)


def google_drive_url(file_id: str) -> str:
    """Direct-download URL of a public Google Drive file (skips the virus-scan page for large files)."""
    query = urllib.parse.urlencode({"id": file_id, "export": "download", "confirm": "t"})
    return f"https://drive.usercontent.google.com/download?{query}"


def resolve_google_drive(url: str, timeout: float = 60.0) -> str:
    """Google Drive answers a large file's first request with an HTML confirm form; follow it once.
    Returns the URL that serves the bytes (the same URL when no form comes back)."""
    if "drive.usercontent.google.com" not in url and "drive.google.com" not in url:
        return url
    try:
        with _open(url, {"Range": "bytes=0-0"}, timeout) as resp:
            if "text/html" not in resp.headers.get("Content-Type", ""):
                return url
            page = resp.read(1 << 20).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        raise DataError(f"Google Drive answered HTTP {exc.code} for {url}; try later or use --mirror") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"cannot reach Google Drive ({_reason(exc)}); use --mirror on a machine without "
                        "internet") from None
    form = re.search(r'<form[^>]*action="([^"]+)"', page)
    if not form:
        raise DataError(f"Google Drive did not serve {url} (quota exceeded or the file moved); try later "
                        "or use --mirror")
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    return form.group(1).replace("&amp;", "&") + "?" + urllib.parse.urlencode(fields)
