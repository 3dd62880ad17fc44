"""Progress of long runs: a rich bar on a terminal, plain lines every ~30 s elsewhere (nohup, `2> log`,
batch schedulers), so a researcher always sees done/total, rate and ETA.

Both displays take the same calls as `rich.progress.Progress` (`add_task`, `advance`) and are context
managers; on leaving (normally, by Ctrl-C or SIGTERM) the terminal is restored and, for plain output, a last
line is written."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

INTERVAL_ENV = "SWAPBENCH_PROGRESS_INTERVAL"  # seconds between plain lines (default 30)
TERMINAL_REFRESH_PER_SECOND = 2


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass
class _Task:
    description: str
    total: int
    done: int = 0
    resumed: int = 0  # finished before this run (`resume`, or an advance-only caller's first step): not rate
    started: float = field(default_factory=time.monotonic)
    rate_from: float = 0.0
    finished: float | None = None  # when done reached total: the rate and elapsed time stop there
    first_step: bool = True
    printed_done: int = -1

    def line(self, now: float) -> str:
        now = min(now, self.finished) if self.finished is not None else now
        elapsed = now - self.started
        span = now - self.rate_from
        rate = (self.done - self.resumed) / span if not self.first_step and span > 0 else 0.0
        left = self.total - self.done
        eta = _clock(left / rate) if rate > 0 else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (f"{self.description}: {self.done}/{self.total} ({pct:.0f}%), {rate:.2f}/s, "
                f"elapsed {_clock(elapsed)}, ETA {eta if left else '0:00:00'}")


class PlainProgress:
    """One line per task that moved, every `interval` seconds, on a stream that is not a terminal."""

    def __init__(self, stream: IO[str] | None = None, interval: float | None = None):
        self.stream = stream or sys.stderr
        self.interval = interval if interval is not None else float(os.environ.get(INTERVAL_ENV, 30))
        self.tasks: list[_Task] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add_task(self, description: str, total: int, **_: Any) -> int:
        with self._lock:
            self.tasks.append(_Task(_strip_markup(description), int(total)))
            return len(self.tasks) - 1

    def advance(self, task: int, advance: float = 1) -> None:
        with self._lock:
            t = self.tasks[task]
            if t.first_step:
                # the rate is measured from the first step on: a resumed run's first step is everything the
                # cache already held, reported at once, and must not count as speed
                t.resumed = int(advance)
                t.rate_from = time.monotonic()
                t.first_step = False
            t.done += int(advance)
            if t.done >= t.total and t.finished is None:
                t.finished = time.monotonic()

    def resume(self, task: int, done: int) -> None:
        """Count `done` items that were finished before this run (a cache's): shown, never part of the rate."""
        with self._lock:
            t = self.tasks[task]
            t.done += int(done)
            t.resumed += int(done)
            if t.first_step:
                t.rate_from = time.monotonic()
                t.first_step = False

    def update(self, task: int, total: float | None = None, **_: Any) -> None:
        with self._lock:
            if total is not None:
                self.tasks[task].total = int(total)

    def _emit(self, final: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            lines = []
            for t in self.tasks:
                if final or t.done != t.printed_done:
                    lines.append(("done " if final and t.done >= t.total else "") + t.line(now))
                    t.printed_done = t.done
        for text in lines:
            self.stream.write(f"progress: {text}\n")
        self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._emit()

    def __enter__(self) -> PlainProgress:
        self._thread = threading.Thread(target=self._run, name="swapbench-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._emit(final=True)


def _strip_markup(text: str) -> str:
    from rich.text import Text

    return Text.from_markup(text).plain


def make_progress(console: Console | None = None) -> Progress | PlainProgress:
    """A rich bar (refreshed a few times a second at most) when stderr is a terminal, plain lines otherwise."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        return PlainProgress(console.file)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        refresh_per_second=TERMINAL_REFRESH_PER_SECOND,
    )


class ConsoleDisplay:
    """The engine's display on a console: notices in yellow, one progress line per column plus an overall
    one when there are several (rich on a terminal, plain lines elsewhere)."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)

    def notice(self, text: str) -> None:
        self.console.print(f"[yellow]notice:[/] {text}", highlight=False)

    @contextlib.contextmanager
    def track(self, labels: list[str], totals: list[int]) -> Iterator[Callable[[int, int], None]]:
        with make_progress(self.console) as bar:
            overall = bar.add_task("[bold]all columns", total=sum(totals)) if len(labels) > 1 else None
            jobs = [bar.add_task(label, total=total) for label, total in zip(labels, totals, strict=True)]

            reported = set()  # columns whose cached count (the engine's first call for each) has come

            def advance(index: int, k: int) -> None:
                step = bar.advance
                if index not in reported:
                    reported.add(index)
                    step = getattr(bar, "resume", bar.advance)  # rich's bar has no rate to protect
                step(jobs[index], k)
                if overall is not None:
                    step(overall, k)

            yield advance

    @contextlib.contextmanager
    def track_growing(self, label: str, total: int) -> Iterator[Callable[[int, int], None]]:
        with make_progress(self.console) as bar:
            job = bar.add_task(label, total=total)
            totals = [total]

            def advance(done: int, more: int) -> None:
                if more:
                    totals[0] += more
                    bar.update(job, total=totals[0])
                bar.advance(job, done)

            yield advance
