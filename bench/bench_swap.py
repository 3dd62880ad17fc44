"""SWAP cost on full-size NB201 networks (CPU): bit-packed streaming count vs a plain forward and vs the
naive method (concatenate float activations, torch.unique(dim=0)).

    python -m bench.bench_swap [--n-archs 50] [--batch 64] [--out bench/results/swap_bench.json]

The networks are the run's (`swapbench.build_network`, seed 0) with the swap metric's first Gaussian
re-initialisation, on the run's fixed batch of seed 0 (`run_batch`): what `swapbench.score(..., ["swap"])`
counts. Times: per architecture, the median of 3 runs of each method on the same network and batch; the table
reports the median over architectures and the ratio of the medians. Peak memory: each method runs
alone over the same architectures in a fresh process; reported is that process's peak RSS growth over
its state just before the method's first call (VmHWM, reset through /proc/self/clear_refs).
Writes bench/results/swap_bench.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

import swapbench
from bench.common import RESULTS
from swapbench.nn.patterns import naive_count
from swapbench.proxies.registry import ProxyContext
from swapbench.proxies.swap import count_patterns, gaussian_init, swap_generator
from swapbench.study.config import CorrelateConfig
from swapbench.study.runner import plan_run, run_batch

ROOT = Path(__file__).resolve().parents[1]


def setup(n_archs: int, batch: int, data_dir: str | None) -> tuple[list[nn.Module], torch.Tensor]:
    """The first `n_archs` sampled NB201 networks as the swap metric counts them, and the run's batch."""
    plan = plan_run(CorrelateConfig(space="nb201", task="cifar10", proxies=["swap"], n_archs=max(n_archs, 3),
                                    limit_archs=n_archs, seeds=[0], batch_size=batch, batch_policy="fixed",
                                    data_dir=data_dir, device="cpu"))
    x, _ = run_batch(plan, 0, "")
    nets = []
    for row in plan.samples[0]:
        arch = plan.truth.archs[row]
        net = swapbench.build_network("nb201", arch, "cifar10", seed=0)
        ctx = ProxyContext(space=plan.space, task="cifar10", seed=0, arch_key=plan.space.canonical_key(arch))
        gaussian_init(net, swap_generator(ctx))
        nets.append(net)
    return nets, x


def forward(net: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        net(x)


def naive(net: nn.Module, x: torch.Tensor) -> int:
    acts: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, a, o: acts.append(o.detach().clone()) if a[0].dim() == 4 else None)
             for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        forward(net, x)
    finally:
        for h in hooks:
            h.remove()
    return naive_count(acts)


METHODS = {"forward": forward, "swap": count_patterns, "naive": naive}


def status_mib(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Reset the kernel's resident-set high-water mark (VmHWM) so set-up peaks do not count."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def memory_child(method: str, n_archs: int, batch: int, data_dir: str | None) -> None:
    nets, x = setup(n_archs, batch, data_dir)
    forward(nets[0], x)  # warm up allocator and kernels
    reset_peak()
    base = status_mib("VmRSS")
    for net in nets:
        METHODS[method](net, x)
    peak = status_mib("VmHWM")
    print(json.dumps({"method": method, "peak_growth_mib": max(0.0, peak - base)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-archs", type=int, default=50)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=RESULTS / "swap_bench.json")
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.n_archs, args.batch, args.data_dir)
        return
    nets, x = setup(args.n_archs, args.batch, args.data_dir)
    forward(nets[0], x)
    times = {m: [] for m in METHODS}
    mismatches = 0
    for net in nets:
        for method in ("forward", "swap"):
            runs = []
            for _ in range(3):
                start = time.perf_counter()
                value = METHODS[method](net, x)
                runs.append(time.perf_counter() - start)
            times[method].append(statistics.median(runs))
        start = time.perf_counter()
        reference = naive(net, x)
        times["naive"].append(time.perf_counter() - start)
        mismatches += int(reference != value)
    memory = {}
    for method in METHODS:
        cmd = [sys.executable, "-m", "bench.bench_swap", "--memory-child", method, "--n-archs", str(args.n_archs),
               "--batch", str(args.batch)] + (["--data-dir", args.data_dir] if args.data_dir else [])
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        memory[method] = json.loads(out)["peak_growth_mib"]
    med = {m: statistics.median(v) for m, v in times.items()}
    result = dict(
        n_archs=args.n_archs, batch=args.batch, device="cpu", threads=torch.get_num_threads(),
        median_seconds=med, swap_over_forward=med["swap"] / med["forward"],
        naive_over_swap=med["naive"] / med["swap"], count_mismatches=mismatches,
        peak_memory_growth_mib=memory, machine=platform.platform(), torch=torch.__version__,
        goals=dict(swap_over_forward="<= 1.3", naive_over_swap=">= 5"),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'method':<10}{'median s/arch':>15}{'peak MiB':>12}")
    for m in METHODS:
        print(f"{m:<10}{med[m]:>15.4f}{memory[m]:>12.1f}")
    print(f"swap / forward = {result['swap_over_forward']:.2f} (goal <= 1.3); "
          f"naive / swap = {result['naive_over_swap']:.1f}x (goal >= 5); count mismatches: {mismatches}")


if __name__ == "__main__":
    main()
