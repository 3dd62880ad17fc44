"""Resident memory of a study over TransNAS-Bench-101 columns, sampled while it runs, to check that the
peak stays bounded and does not grow with the number of architectures scored.

    python -m bench.study_rss [--columns tnb101_micro/class_scene,tnb101_macro/class_scene] [--limit-archs 3]
                              [--code PATH] [--tag after] [--out PATH]

Runs `swapbench study configs/fig4.toml --columns ... --limit-archs N --seeds 0 --threads 1` (its 17 metrics)
in a subprocess with a fresh cache (`--code PATH` puts another checkout first on PYTHONPATH, e.g. the
parent commit for a before/after pair), samples its VmRSS every 0.5 s, and reads the cache's score count
at each sample. Reports the peak RSS and, per successive architecture (scores per architecture = number of
metrics), the highest and the lowest RSS while it was scored, and appends a row to bench/results/study_rss.csv
(or --out; `--proxies` runs a subset of the config's metrics).
"""

from __future__ import annotations

import argparse
import csv
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import RESULTS

ROOT = Path(__file__).resolve().parents[1]
TNB = "tnb101_micro/class_scene,tnb101_macro/class_scene"


def rss_mib(pid: int) -> float:
    """Current resident set of `pid` in MiB (0 once it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def scores_done(cache: Path) -> int:
    if not cache.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=0.2) as con:
            return int(con.execute("SELECT COUNT(*) FROM scores").fetchone()[0])
    except sqlite3.Error:
        return -1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", default=TNB)
    parser.add_argument("--limit-archs", type=int, default=3)
    parser.add_argument("--code", default=str(ROOT), help="checkout whose swapbench runs the study")
    parser.add_argument("--tag", default="current")
    parser.add_argument("--metrics", type=int, default=17, help="scores per architecture (fig4: 17)")
    parser.add_argument("--proxies", default=None, help="only these of the config's metrics (sets --metrics)")
    parser.add_argument("--out", type=Path, default=RESULTS / "study_rss.csv", help="table a row is appended to")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache.sqlite"
        env = dict(os.environ, PYTHONPATH=args.code)
        cmd = [sys.executable, "-m", "swapbench.cli", "study", str(ROOT / "configs" / "fig4.toml"),
               "--columns", args.columns, "--limit-archs", str(args.limit_archs),
               "--seeds", "0", "--threads", "1", "--out", str(Path(tmp) / "out"), "--cache", str(cache)]
        if args.proxies:
            cmd += ["--proxies", args.proxies]
            args.metrics = len(args.proxies.split(","))
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=args.code, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples: list[tuple[float, float, int]] = []
        last = 0
        try:
            while proc.poll() is None:
                done = scores_done(cache)
                last = done if done >= 0 else last
                samples.append((time.perf_counter() - start, rss_mib(proc.pid), last))
                time.sleep(0.5)
        finally:
            if proc.poll() is None:  # interrupted: do not leave the study running
                proc.terminate()
                proc.wait()
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.returncode != 0:
            print(err[-2000:], file=sys.stderr)
            return proc.returncode
    seconds = time.perf_counter() - start
    peak = max(r for _, r, _ in samples)
    per_arch: dict[int, float] = {}
    floor: dict[int, float] = {}
    for _, rss, done in samples:
        arch = done // args.metrics  # architectures completed when the sample was taken
        if rss > 0:
            per_arch[arch] = max(per_arch.get(arch, 0.0), rss)
            floor[arch] = min(floor.get(arch, rss), rss)
    archs = [f"{per_arch[k]:.0f}" for k in sorted(per_arch)]
    lows = [f"{floor[k]:.0f}" for k in sorted(floor)]
    print(f"{args.tag}: peak RSS {peak:.0f} MiB over {seconds:.0f} s; peak while scoring arch 1..n: {' '.join(archs)}; "
          f"lowest: {' '.join(lows)}")
    new = not args.out.exists()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["tag", "columns", "limit_archs", "seconds", "peak_rss_mib", "peak_rss_per_arch_mib",
                             "lowest_rss_per_arch_mib", "proxies"])
        writer.writerow([args.tag, args.columns, args.limit_archs, f"{seconds:.0f}", f"{peak:.0f}", " ".join(archs),
                         " ".join(lows), args.proxies or "fig4"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
