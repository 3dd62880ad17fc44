"""Progress for non-terminals: plain lines with done/total, rate and ETA at a fixed interval."""

from __future__ import annotations

import io
import time

from rich.console import Console
from rich.progress import Progress

from swapbench.report.progress import ConsoleDisplay, PlainProgress, make_progress


def test_plain_lines_at_the_interval_with_rate_and_eta():
    stream = io.StringIO()
    with PlainProgress(stream, interval=0.2) as bar:
        task = bar.add_task("[bold]nb201/cifar10", total=10)
        bar.advance(task, 4)  # what the cache held: reported at once, not counted as speed
        for _ in range(3):
            time.sleep(0.1)
            bar.advance(task, 1)
        time.sleep(0.35)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2  # at least one periodic line and the final one
    assert lines[0].startswith("progress: nb201/cifar10: ")  # markup stripped
    last = lines[-1]
    assert "7/10 (70%)" in last
    rate = float(last.split(", ")[1].removesuffix("/s"))
    assert 3 < rate < 12  # 3 items in ~0.3-0.7 s; the 4 from the cache do not count
    assert "ETA 0:00:0" in last


def test_silent_between_intervals_and_done_line():
    stream = io.StringIO()
    with PlainProgress(stream, interval=60) as bar:
        task = bar.add_task("x", total=2)
        bar.advance(task, 1)
        bar.advance(task, 1)
    assert stream.getvalue().splitlines() == [stream.getvalue().splitlines()[0]]
    assert stream.getvalue().startswith("progress: done x: 2/2 (100%)")


def test_terminal_gets_a_slowly_refreshed_rich_bar_and_a_file_gets_lines():
    bar = make_progress(Console(file=io.StringIO(), force_terminal=True))
    assert isinstance(bar, Progress)
    assert bar.live.refresh_per_second <= 4
    assert isinstance(make_progress(Console(file=io.StringIO())), PlainProgress)


def test_overall_rate_leaves_out_every_columns_cached_count():
    stream = io.StringIO()
    console = Console(file=stream)  # not a terminal: plain lines
    with ConsoleDisplay(console).track(["a/x", "b/y"], [100, 100]) as advance:
        advance(0, 90)  # the engine first reports each column's cached count, then computes
        advance(1, 90)
        for _ in range(4):
            time.sleep(0.1)
            advance(0, 1)
    overall = [line for line in stream.getvalue().splitlines() if "all columns" in line][-1]
    assert "184/200 (92%)" in overall
    rate = float(overall.split(", ")[1].removesuffix("/s"))
    assert 4 < rate < 20  # 4 archs in ~0.4 s; counting the second column's 90 would give > 200/s
    eta = overall.rsplit("ETA ", 1)[1]
    assert eta != "?" and int(eta.split(":")[1]) == 0 and int(eta.split(":")[2]) >= 1  # 16 left at ~10/s
