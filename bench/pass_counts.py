"""What `--proxies all` costs per architecture, per space, in units of one pass of the same network on the
same batch: seconds per metric divided by one train-mode forward (F) and by one forward + task-loss
backward (F+B).

    python bench/pass_counts.py [--columns nb201/cifar10,...] [--archs 2] [--before PATH] [--threads 1]

Each architecture is scored in a fresh subprocess exactly as a study scores it (`score_arch`: the column's
study batch, one network per architecture, all 18 metrics in registry order, one shared memo), after
timing F and F+B (median of 3) on a copy of that network. With `--before PATH` (a checkout of another
commit, e.g. `git worktree add /tmp/before 6850f89`) the same architectures are also scored by that code,
interleaved arch by arch (alternating which goes first), so load on the machine hits both alike.
Writes bench/results/pass_counts.csv (one row per column, code, metric; `total` is the sum).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "pass_counts.csv"
COLUMNS = ("nb201/cifar10", "nb101/cifar10", "nb301/cifar10", "tnb101_micro/class_scene",
           "tnb101_micro/autoencoder", "tnb101_macro/class_scene")


def _median_seconds(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker(column: str, index: int, threads: int) -> dict:
    """Time F, F+B and every metric on the `index`-th sampled architecture of `column` (seed 0)."""
    import torch

    from swapbench.proxies.registry import list_proxies
    from swapbench.study.config import CorrelateConfig
    from swapbench.study.runner import _batch, derive_seed, plan_run, score_arch

    torch.set_num_threads(threads)
    space_name, task = column.split("/")
    plan = plan_run(CorrelateConfig(space=space_name, task=task, proxies=list_proxies(), n_archs=max(index + 1, 3),
                                    limit_archs=index + 1, seeds=[0], device="cpu"))
    arch = plan.truth.archs[plan.samples[0][index]]
    key = plan.space.canonical_key(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed("init", 0, key))
        net = plan.space.build(arch, task)
    x, y = _batch(plan, 0, key)
    loss_fn = plan.space.loss_fn(task)
    probe = copy.deepcopy(net).train()

    def forward() -> None:
        with torch.no_grad():
            probe(x)

    def forward_backward() -> None:
        probe.zero_grad(set_to_none=True)
        out = probe(x)
        loss_fn(out[0] if isinstance(out, (tuple, list)) else out, y).backward()

    f = _median_seconds(forward)
    fb = _median_seconds(forward_backward)
    scores = score_arch(plan, 0, arch, plan.proxies)
    return {"column": column, "arch": key, "batch": plan.batch_size, "forward_s": f, "fwd_bwd_s": fb,
            "metrics": {name: secs for name, (_, secs) in scores.items()}}


def run_worker(code: Path, column: str, index: int, threads: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code), OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", column, str(index), "--threads", str(threads)]
    done = subprocess.run(cmd, env=env, cwd=code, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({code}, {column}, arch {index}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict]) -> dict[str, tuple[float, float, float]]:
    """metric -> (mean seconds per arch, mean in F units, mean in F+B units); `total` sums the metrics."""
    out: dict[str, tuple[float, float, float]] = {}
    names = list(runs[0]["metrics"]) + ["total"]
    for name in names:
        secs = [r["metrics"][name] if name != "total" else sum(r["metrics"].values()) for r in runs]
        out[name] = (statistics.mean(secs),
                     statistics.mean(s / r["forward_s"] for s, r in zip(secs, runs, strict=True)),
                     statistics.mean(s / r["fwd_bwd_s"] for s, r in zip(secs, runs, strict=True)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("COLUMN", "INDEX"), help=argparse.SUPPRESS)
    parser.add_argument("--columns", default=",".join(COLUMNS))
    parser.add_argument("--archs", type=int, default=2)
    parser.add_argument("--before", type=Path, default=None, help="checkout of the code to compare against")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.threads)))
        return 0
    codes = {"after": ROOT} | ({"before": args.before.resolve()} if args.before else {})
    rows = []
    for column in args.columns.split(","):
        runs: dict[str, list[dict]] = {tag: [] for tag in codes}
        for index in range(args.archs):
            order = list(codes) if index % 2 == 0 else list(codes)[::-1]
            for tag in order:
                runs[tag].append(run_worker(codes[tag], column, index, args.threads))
        for tag, tag_runs in runs.items():
            f = statistics.mean(r["forward_s"] for r in tag_runs)
            fb = statistics.mean(r["fwd_bwd_s"] for r in tag_runs)
            for name, (secs, f_units, fb_units) in summarise(tag_runs).items():
                rows.append({"column": column, "code": tag, "metric": name, "archs": len(tag_runs),
                             "batch": tag_runs[0]["batch"], "seconds_per_arch": round(secs, 4),
                             "forward_units": round(f_units, 2), "fwd_bwd_units": round(fb_units, 2),
                             "forward_s": round(f, 4), "fwd_bwd_s": round(fb, 4), "threads": args.threads})
            total = [r for r in rows if r["column"] == column and r["code"] == tag and r["metric"] == "total"][0]
            print(f"{column} {tag}: {total['seconds_per_arch']:.2f} s/arch = {total['fwd_bwd_units']:.1f} F+B "
                  f"= {total['forward_units']:.1f} F (F {f:.3f} s, F+B {fb:.3f} s)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
