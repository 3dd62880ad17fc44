"""What `--proxies all` costs per architecture, per space, in units of one pass of the same network on the
same batch: seconds per metric divided by one train-mode forward (F) and by one forward + task-loss
backward (F+B).

    python -m bench.pass_counts [--columns nb201/cifar10,...] [--archs 2] [--before PATH] [--threads 1]

Each column is scored in one fresh subprocess as a study worker scores it (`score_arch`'s loop, one metric at
a time so that each gets its own wall and CPU time: the run's batch (`run_batch`), the run's network
(`swapbench.build_network`), all 18 metrics in registry order through the harness, one shared memo per
architecture), after timing F and F+B (median of 3) on another build of that network. The process scores
1 + ARCHS architectures in a row: the first one pays the process's one-off costs (kernel selection and
memory pools for every new operator and shape, the first double backward) and is reported as phase `cold`;
the others, as every architecture after the first in a study worker, are phase `warm`, the steady cost per
architecture. Every time is taken both by wall clock and by the process's CPU time (`clock` column): on a
shared machine the CPU time is the steadier of the two. With `--before PATH` (a checkout of another commit
with the same public API, e.g. `git worktree add /tmp/before COMMIT`) the same architectures are also scored
by that code, alternating which goes first per column; the worker runs this file with that checkout first on
PYTHONPATH. Writes bench/results/pass_counts.csv (one row per column, code, phase, clock, metric; `total` is
the sum).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# standard library only at the top (not bench.common): the worker runs this file by path, with another
# checkout first on PYTHONPATH under --before
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "pass_counts.csv"
COLUMNS = ("nb201/cifar10", "nb101/cifar10", "nb301/cifar10", "tnb101_micro/class_scene",
           "tnb101_micro/autoencoder", "tnb101_macro/class_scene")


def _median_seconds(fn, runs: int = 3) -> tuple[float, float]:
    """Median wall and CPU seconds of `fn` over `runs` calls."""
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def worker(column: str, count: int, threads: int) -> list[dict]:
    """Time F, F+B and every metric on the first `count` sampled architectures of `column` (seed 0), in order,
    in this one process."""
    import torch

    from swapbench.proxies.registry import list_proxies
    from swapbench.study.config import CorrelateConfig
    from swapbench.study.runner import plan_run

    torch.set_num_threads(threads)
    space_name, task = column.split("/")
    plan = plan_run(CorrelateConfig(space=space_name, task=task, proxies=list_proxies(), n_archs=max(count, 3),
                                    limit_archs=count, seeds=[0], device="cpu"))
    return [one_arch(plan, index) for index in range(count)]


def one_arch(plan, index: int) -> dict:
    """F, F+B and every metric's time on the `index`-th sampled architecture of `plan`."""
    import torch

    import swapbench
    from swapbench.proxies.registry import ProxyContext, run_proxy
    from swapbench.study.runner import run_batch

    space, task = plan.space, plan.config.task
    space_name = space.name
    arch = plan.truth.archs[plan.samples[0][index]]
    key = space.canonical_key(arch)
    x, y = run_batch(plan, 0, key)
    loss_fn = space.loss_fn(task)

    def build() -> torch.nn.Module:
        return swapbench.build_network(space_name, arch, task, seed=0)

    probe = build().train()

    def forward() -> None:
        with torch.no_grad():
            probe(x)

    def forward_backward() -> None:
        probe.zero_grad(set_to_none=True)
        out = probe(x)
        loss_fn(out[0] if isinstance(out, (tuple, list)) else out, y).backward()

    f_wall, f_cpu = _median_seconds(forward)
    fb_wall, fb_cpu = _median_seconds(forward_backward)
    probe = None
    # score_arch's loop, timed by wall clock and by this process's CPU time
    net = build()
    memo: dict = {}
    planned = frozenset(spec.name for spec in plan.proxies)
    wall, cpu = {}, {}
    for spec in plan.proxies:
        ctx = ProxyContext(space=space, task=task, seed=0, arch_key=key, options=plan.options[spec.name],
                           memo=memo, planned=planned)
        w, c = time.perf_counter(), time.process_time()
        run_proxy(spec, net, x, y, loss_fn, ctx)
        wall[spec.name] = time.perf_counter() - w
        cpu[spec.name] = time.process_time() - c
    return {"column": f"{space_name}/{task}", "arch": key, "batch": plan.batch_size, "forward_s": f_wall,
            "fwd_bwd_s": fb_wall, "forward_cpu": f_cpu, "fwd_bwd_cpu": fb_cpu, "metrics": wall, "metrics_cpu": cpu}


def run_worker(code: Path, column: str, count: int, threads: int) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(code), OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", column, str(count), "--threads", str(threads)]
    done = subprocess.run(cmd, env=env, cwd=code, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({code}, {column}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict], clock: str) -> dict[str, tuple[float, float, float]]:
    """metric -> (mean seconds per arch, mean in F units, mean in F+B units) by `clock` ("wall" or "cpu");
    `total` sums the metrics."""
    metrics, f, fb = ("metrics", "forward_s", "fwd_bwd_s") if clock == "wall" else (
        "metrics_cpu", "forward_cpu", "fwd_bwd_cpu")
    out: dict[str, tuple[float, float, float]] = {}
    for name in [*runs[0][metrics], "total"]:
        secs = [r[metrics][name] if name != "total" else sum(r[metrics].values()) for r in runs]
        out[name] = (statistics.mean(secs),
                     statistics.mean(s / r[f] for s, r in zip(secs, runs, strict=True)),
                     statistics.mean(s / r[fb] for s, r in zip(secs, runs, strict=True)))
    return out


def phase_rows(column: str, tag: str, phase: str, clock: str, runs: list[dict], threads: int) -> list[dict]:
    """One row per metric (and `total`) of one column, code, phase and clock."""
    suffix = "_cpu" if clock == "cpu" else "_s"
    f = statistics.mean(r["forward" + suffix] for r in runs)
    fb = statistics.mean(r["fwd_bwd" + suffix] for r in runs)
    return [{"column": column, "code": tag, "phase": phase, "clock": clock, "metric": name, "archs": len(runs),
             "batch": runs[0]["batch"], "seconds_per_arch": round(secs, 4), "forward_units": round(f_units, 2),
             "fwd_bwd_units": round(fb_units, 2), "forward_s": round(f, 4), "fwd_bwd_s": round(fb, 4),
             "threads": threads}
            for name, (secs, f_units, fb_units) in summarise(runs, clock).items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("COLUMN", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--columns", default=",".join(COLUMNS))
    parser.add_argument("--archs", type=int, default=2, help="warm architectures per column (after 1 cold one)")
    parser.add_argument("--before", type=Path, default=None, help="checkout of the code to compare against")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.threads)))
        return 0
    codes = {"after": ROOT} | ({"before": args.before.resolve()} if args.before else {})
    rows = []
    for number, column in enumerate(args.columns.split(",")):
        order = list(codes) if number % 2 == 0 else list(codes)[::-1]
        runs = {tag: run_worker(codes[tag], column, 1 + args.archs, args.threads) for tag in order}
        for tag in codes:
            for phase, phase_runs in (("cold", runs[tag][:1]), ("warm", runs[tag][1:])):
                for clock in ("cpu", "wall"):
                    rows += phase_rows(column, tag, phase, clock, phase_runs, args.threads)
                    total = rows[-1]
                    print(f"{column} {tag} {phase} ({clock}): {total['seconds_per_arch']:.2f} s/arch = "
                          f"{total['fwd_bwd_units']:.1f} F+B = {total['forward_units']:.1f} F "
                          f"(F {total['forward_s']:.3f} s, F+B {total['fwd_bwd_s']:.3f} s)", flush=True)
    from bench.common import write_rows  # here, not at the top: workers run this file by path

    write_rows(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
