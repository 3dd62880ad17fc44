"""Batch-size x repeats sweep of SWAP on full-size networks.

For each sampled architecture and batch size, records Psi for every one of R_max Gaussian
re-initialisations on one fixed batch, so R = 1, 8, ..., R_max come from the same run. Reports per
(batch, R): Spearman of swap / reg_swap with accuracy, the label-free rank stability against R_max,
and saturation (Psi / number of distinct hooked units, 1.0 = every unit's pattern is unique).

Networks, batches and draws are the engine's: the run's network (`swapbench.build_network`), the run's fixed
batch of the seed at each batch size, and the swap metric's own re-initialisations, so the mean of the first
R values is the `swap` score with repeats=R; Theta and mu = sigma are reg_swap's (executed parameters, the
space's default for the task).

    python -m bench.sweep_swap --space nb201 --task cifar100 --n-archs 100 --batches 16,32,64 --repeats 1,8,32

Writes bench/results/sweep_<space>_<task>_raw.csv and sweep_<space>_<task>.csv (--out DIR: to DIR).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import swapbench
from bench.common import RESULTS, spearman
from swapbench.nn.counting import executed_params
from swapbench.proxies.priors import reg_swap_prior
from swapbench.proxies.registry import ProxyContext
from swapbench.proxies.swap import regulariser, swap_generator, swap_per_repeat
from swapbench.study.config import CorrelateConfig
from swapbench.study.runner import Plan, plan_run, run_batch


def hooked_units(net: torch.nn.Module, x: torch.Tensor) -> int:
    """Units whose patterns are counted (distinct ReLU inputs, as count_patterns dedupes)."""
    units, seen = [0], {}  # holding the tensors keeps their storage from being reused

    def hook(m, args, out):
        a = args[0]
        ident = (type(m), a.data_ptr(), a.storage_offset(), tuple(a.shape), a.stride(), a._version)
        if a.dim() == 4 and ident not in seen:
            seen[ident] = a
            units[0] += out[0].numel()

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in hs:
        h.remove()
    return units[0]


def sweep_plan(args: argparse.Namespace, batch: int) -> Plan:
    """The run that scores swap on this sample at this batch size (its truth, sample, batch and device)."""
    return plan_run(CorrelateConfig(space=args.space, task=args.task, proxies=["swap"], n_archs=args.n_archs,
                                    seeds=[args.seed], batch_size=batch, batch_policy="fixed",
                                    data_dir=args.data_dir, device="cpu"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--task", default="cifar100")
    ap.add_argument("--n-archs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batches", default="16,32,64")
    ap.add_argument("--repeats", default="1,8,32")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory of the raw sweep and its summary")
    ap.add_argument("--recount-units", action="store_true", help="only recompute `units` of a stored raw sweep")
    args = ap.parse_args()
    if args.recount_units:
        recount_units(args)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    rs = [int(r) for r in args.repeats.split(",")]
    r_max = max(rs)
    records = []
    start = time.time()
    for b in batches:
        plan = sweep_plan(args, b)
        space, truth = plan.space, plan.truth
        x, _ = run_batch(plan, args.seed, "")
        shape = space.task(args.task).input_shape
        for k, row in enumerate(plan.samples[args.seed]):
            arch = truth.archs[row]
            net = swapbench.build_network(args.space, arch, args.task, seed=args.seed)
            params_m = executed_params(net, shape) * 1e6 / space.size_unit  # reg_swap's Theta
            ctx = ProxyContext(space=space, task=args.task, seed=args.seed, arch_key=space.canonical_key(arch))
            psis = swap_per_repeat(net, x, r_max, "gaussian", swap_generator(ctx))
            records.append(dict(batch=b, arch=truth.keys[row], accuracy=float(truth.accuracy[row]),
                                params_m=params_m, units=hooked_units(net, x), psi=json.dumps(psis)))
            if k % 25 == 0:
                print(f"batch {b}: {k}/{len(plan.samples[args.seed])} archs, {time.time() - start:.0f}s", flush=True)
    frame = pd.DataFrame(records)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / f"sweep_{args.space}_{args.task}_raw.csv", index=False)
    mu = sigma = reg_swap_prior(plan.space, args.task)
    summarise(frame, args, rs, r_max, mu, sigma)
    print(f"total {time.time() - start:.0f}s")


def recount_units(args: argparse.Namespace) -> None:
    """Recompute the `units` column of an existing raw sweep (it depends on architecture and batch only)."""
    raw = args.out / f"sweep_{args.space}_{args.task}_raw.csv"
    frame = pd.read_csv(raw)
    plans: dict[int, Plan] = {}
    units = []
    for b, key in zip(frame["batch"], frame["arch"], strict=True):
        if int(b) not in plans:
            plans[int(b)] = sweep_plan(args, int(b))
        plan = plans[int(b)]
        arch = plan.truth.archs[plan.truth.keys.index(key)]
        x, _ = run_batch(plan, args.seed, "")
        units.append(hooked_units(swapbench.build_network(args.space, arch, args.task, seed=args.seed), x))
    frame["units"] = units
    frame.to_csv(raw, index=False)
    rs = [int(r) for r in args.repeats.split(",")]
    prior = reg_swap_prior(next(iter(plans.values())).space, args.task)
    summarise(frame, args, rs, max(rs), prior, prior)


def summarise(frame: pd.DataFrame, args: argparse.Namespace, rs: list[int], r_max: int, mu: float,
              sigma: float) -> None:
    summary = []
    for b, g in frame.groupby("batch"):
        psi = np.array([json.loads(p) for p in g["psi"]], dtype=float)
        full = psi[:, :r_max].mean(1)
        acc = g["accuracy"].to_numpy()
        for r in rs:
            swap = psi[:, :r].mean(1)
            reg = swap * np.array([regulariser(t, mu, sigma, "paper") for t in g["params_m"]])
            reg_code = swap * np.array([regulariser(t, mu, sigma, "code") for t in g["params_m"]])
            summary.append(dict(
                batch=b, repeats=r, n=len(g),
                spearman_swap=spearman(swap, acc),
                spearman_reg_paper=spearman(reg, acc),
                spearman_reg_code=spearman(reg_code, acc),
                stability_vs_rmax=spearman(swap, full),
                saturation=float(np.mean(swap / g["units"].to_numpy())),
                psi_mean=float(swap.mean()),
            ))
    table = pd.DataFrame(summary)
    table.to_csv(args.out / f"sweep_{args.space}_{args.task}.csv", index=False, float_format="%.4f")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
