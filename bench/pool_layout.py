"""CPU cost of the cells' pooling layers and of SWAP's distinct count, before and after the two exact
shortcuts (`swapbench.nn.pooling`: pools through the channels-last kernel; `swapbench.nn.patterns`: an
occupancy table instead of a sort for batches of <= 20 images), interleaved in one process.

    python -m bench.pool_layout [--reps 5] [--archs 4] [--out bench/results/pool_layout.csv]

Part 1, layers: each pooling configuration the spaces build, on its tensor in a batch-64 network, forward
without autograd and forward + backward, torch's module against ours (median of --reps, interleaved).
Part 2, architectures: `swapbench.score(..., ["swap"], protocol="swap-official")` (32 re-initialisations,
16 images) on the first --archs sampled NB201 and NB101 architectures of seed 0, with both shortcuts
switched off (torch's pool forward, TABLE_BITS = 0) and on, interleaved; the scores must be equal.
Part 3, gradient pass: `swapbench.nn.passes.backwards` (forward, loss gradient, input Jacobian, GraSP's
double backward: what the stride-1 pools' autograd route serves) on NB201, NB101 and NB301 architectures
after a first one that warms the process, torch's pools against ours, alternating which goes first;
gradients, Jacobian and GraSP's sum must be equal.
CPU seconds, 1 thread. Writes one CSV row per case with the ratio old / new.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch
from torch import nn

import swapbench
from bench.common import RESULTS, write_result
from swapbench.nn import patterns, pooling
from swapbench.nn.passes import backwards
from swapbench.study.config import CorrelateConfig
from swapbench.study.runner import plan_run, run_batch

LAYERS = [  # (space, ours, input shape at batch 64)
    ("nb201", pooling.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), (64, 16, 32, 32)),
    ("nb201", pooling.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), (64, 64, 8, 8)),
    ("nb201", pooling.AvgPool2d(2, stride=2), (64, 16, 32, 32)),
    ("nb301", pooling.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (64, 16, 32, 32)),
    ("nb301", pooling.MaxPool2d(3, stride=1, padding=1), (64, 32, 16, 16)),
    ("nb101", pooling.MaxPool2d(3, stride=1, padding=1), (64, 128, 32, 32)),
    ("nb101", pooling.MaxPool2d(2, stride=2), (64, 128, 32, 32)),
]


@contextmanager
def shortcuts(on: bool):
    """Switch both shortcuts off (torch's own pooling forward, sorting for every batch size) or leave them."""
    saved = pooling.AvgPool2d.forward, pooling.MaxPool2d.forward, patterns.TABLE_BITS
    if not on:
        pooling.AvgPool2d.forward, pooling.MaxPool2d.forward = nn.AvgPool2d.forward, nn.MaxPool2d.forward
        patterns.TABLE_BITS = 0
    try:
        yield
    finally:
        pooling.AvgPool2d.forward, pooling.MaxPool2d.forward, patterns.TABLE_BITS = saved


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def layer_rows(reps: int) -> list[dict]:
    rows = []
    for space, ours, shape in LAYERS:
        x = torch.randn(*shape)

        def forward(x=x, ours=ours):
            with torch.no_grad():
                ours(x)

        dense = torch.randn_like(ours(x))  # a network's output gradient is dense (sum()'s is a stride-0 view)

        def forward_backward(x=x, ours=ours, dense=dense):
            xr = x.clone().requires_grad_()
            torch.autograd.grad(ours(xr), xr, dense)

        for phase, fn in (("forward", forward), ("forward+backward", forward_backward)):
            times = {True: [], False: []}
            for _ in range(reps):
                for on in (False, True):
                    with shortcuts(on):
                        times[on].append(cpu_seconds(fn))
            old, new = statistics.median(times[False]), statistics.median(times[True])
            rows.append(dict(part="layer", space=space, case=f"{ours!r} {tuple(shape)}", phase=phase,
                             old_s=old, new_s=new, ratio=old / new))
    return rows


def arch_rows(n_archs: int) -> list[dict]:
    rows = []
    for space in ("nb201", "nb101"):
        plan = plan_run(CorrelateConfig(space=space, task="cifar10", proxies=["swap"], n_archs=n_archs + 3,
                                        limit_archs=n_archs + 1, seeds=[0], protocol="swap-official",
                                        device="cpu"))
        archs = [plan.truth.archs[row] for row in plan.samples[0]]
        swapbench.score(space, archs[0], "cifar10", ["swap"], protocol="swap-official")  # warm the process
        for arch in archs[1:]:
            values, times = {}, {}
            for on in (False, True):
                with shortcuts(on):
                    start = time.process_time()
                    scores = swapbench.score(space, arch, "cifar10", ["swap"], protocol="swap-official")
                    values[on] = scores["swap"].value
                    times[on] = time.process_time() - start
            if values[False] != values[True]:
                raise SystemExit(f"{space} {arch}: swap {values[False]} != {values[True]}")
            rows.append(dict(part="arch", space=space, case=str(arch), phase="swap-official swap",
                             old_s=times[False], new_s=times[True], ratio=times[False] / times[True]))
    return rows


def gradient_rows(n_archs: int) -> list[dict]:
    """The shared gradient pass (forward, loss gradient, input Jacobian, GraSP's double backward) of the
    spaces with stride-1 pools, which take the channels-last route under autograd too."""
    rows = []
    for space in ("nb201", "nb101", "nb301"):
        plan = plan_run(CorrelateConfig(space=space, task="cifar10", proxies=["grasp"], n_archs=n_archs + 3,
                                        limit_archs=n_archs + 1, seeds=[0], device="cpu"))
        loss_fn = plan.space.loss_fn("cifar10")
        for i, row in enumerate(plan.samples[0]):
            arch = plan.truth.archs[row]
            x, y = run_batch(plan, 0, plan.space.canonical_key(arch))
            net = swapbench.build_network(space, arch, "cifar10", seed=0)
            passes, times = {}, {}
            for on in ((False, True) if i % 2 else (True, False)):
                with shortcuts(on):
                    copy_ = copy.deepcopy(net)
                    start = time.process_time()
                    passes[on] = backwards(copy_, x, y, loss_fn, ("loss", "jacobian", "hvp"))
                    times[on] = time.process_time() - start
            old, new = passes[False], passes[True]
            if not (old.grasp == new.grasp and (old.jacobian == new.jacobian).all()
                    and all(torch.equal(a, b) for a, b in zip(old.grads, new.grads, strict=True))):
                raise SystemExit(f"{space} {arch}: the gradient pass differs with the shortcut")
            if i > 0:  # the first architecture warms the process
                rows.append(dict(part="arch", space=space, case=str(arch), phase="gradient pass",
                                 old_s=times[False], new_s=times[True], ratio=times[False] / times[True]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--archs", type=int, default=4)
    parser.add_argument("--out", default=str(RESULTS / "pool_layout.csv"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    frame = pd.DataFrame(layer_rows(args.reps) + arch_rows(args.archs) + gradient_rows(args.archs))
    arch = frame[frame.part == "arch"]
    summary = arch.groupby(["phase", "space"])[["old_s", "new_s"]].sum()
    for (phase, space), row in summary.iterrows():
        n = len(arch[(arch.space == space) & (arch.phase == phase)])
        print(f"{space}: {phase} {row.old_s / n:.2f} -> {row.new_s / n:.2f} s/arch, ratio {row.old_s / row.new_s:.2f}")
    write_result(frame, Path(args.out).name, out_dir=Path(args.out).parent)


if __name__ == "__main__":
    main()
