"""Batch-size x repeats sweep of SWAP on full-size networks.

For each sampled architecture and batch size, records Psi for every one of R_max Gaussian
re-initialisations on one fixed batch, so R = 1, 8, ..., R_max come from the same run. Reports per
(batch, R): Spearman of swap / reg_swap with accuracy, the label-free rank stability against R_max,
and saturation (Psi / number of distinct hooked units, 1.0 = every unit's pattern is unique).

    python bench/sweep_swap.py --space nb201 --task cifar100 --n-archs 100 --batches 16,32,64 --repeats 1,8,32
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from swapbench.data.benchmarks import load_truth
from swapbench.data.datadir import resolve_data_dir
from swapbench.data.images import load_images, make_batch
from swapbench.proxies.priors import reg_swap_prior
from swapbench.proxies.swap import count_patterns, gaussian_init, parameter_millions, regulariser
from swapbench.spaces import get_space
from swapbench.study.runner import derive_seed
from swapbench.study.sampling import sample_indices

OUT = Path(__file__).resolve().parent / "results"


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
    data_dir = resolve_data_dir(args.data_dir)
    space = get_space(args.space)
    truth = load_truth(space, args.task, data_dir)
    images = load_images(space.task(args.task).dataset, data_dir)
    rows = sample_indices(len(truth), args.n_archs, args.seed)
    mu = sigma = reg_swap_prior(space, args.task)
    records = []
    start = time.time()
    for b in batches:
        x, _ = make_batch(images, b, torch.Generator().manual_seed(derive_seed("batch", args.seed)))
        for k, row in enumerate(rows):
            arch = truth.archs[row]
            key = space.canonical_key(arch)
            torch.manual_seed(derive_seed("init", args.seed, key))
            net = space.build(arch, args.task)
            gen = torch.Generator().manual_seed(derive_seed("swap", args.seed, key))
            psis = []
            for _ in range(r_max):
                gaussian_init(net, gen)
                psis.append(count_patterns(net, x))
            records.append(dict(batch=b, arch=truth.keys[row], accuracy=float(truth.accuracy[row]),
                                params_m=parameter_millions(net), units=hooked_units(net, x),
                                psi=json.dumps(psis)))
            if k % 25 == 0:
                print(f"batch {b}: {k}/{len(rows)} archs, {time.time() - start:.0f}s", flush=True)
    frame = pd.DataFrame(records)
    OUT.mkdir(exist_ok=True)
    frame.to_csv(OUT / f"sweep_{args.space}_{args.task}_raw.csv", index=False)
    summarise(frame, args, rs, r_max, mu, sigma)
    print(f"total {time.time() - start:.0f}s")


def recount_units(args) -> None:
    """Recompute the `units` column of an existing raw sweep (it depends on architecture and batch only)."""
    raw = OUT / f"sweep_{args.space}_{args.task}_raw.csv"
    frame = pd.read_csv(raw)
    data_dir = resolve_data_dir(args.data_dir)
    space = get_space(args.space)
    images = load_images(space.task(args.task).dataset, data_dir)
    units = []
    for b, key in zip(frame["batch"], frame["arch"], strict=True):
        x, _ = make_batch(images, int(b), torch.Generator().manual_seed(derive_seed("batch", args.seed)))
        units.append(hooked_units(space.build(space.parse(key, data_dir), args.task), x))
    frame["units"] = units
    frame.to_csv(raw, index=False)
    rs = [int(r) for r in args.repeats.split(",")]
    prior = reg_swap_prior(space, args.task)
    summarise(frame, args, rs, max(rs), prior, prior)


def summarise(frame, args, rs, r_max, mu, sigma) -> None:
    summary = []
    for b, g in frame.groupby("batch"):
        psi = np.array([json.loads(p) for p in g["psi"]], dtype=float)
        full = psi[:, :r_max].mean(1)
        for r in rs:
            swap = psi[:, :r].mean(1)
            reg = swap * np.array([regulariser(t, mu, sigma, "paper") for t in g["params_m"]])
            reg_code = swap * np.array([regulariser(t, mu, sigma, "code") for t in g["params_m"]])
            summary.append(dict(
                batch=b, repeats=r, n=len(g),
                spearman_swap=stats.spearmanr(swap, g["accuracy"]).statistic,
                spearman_reg_paper=stats.spearmanr(reg, g["accuracy"]).statistic,
                spearman_reg_code=stats.spearmanr(reg_code, g["accuracy"]).statistic,
                stability_vs_rmax=stats.spearmanr(swap, full).statistic,
                saturation=float(np.mean(swap / g["units"].to_numpy())),
                psi_mean=float(swap.mean()),
            ))
    table = pd.DataFrame(summary)
    table.to_csv(OUT / f"sweep_{args.space}_{args.task}.csv", index=False, float_format="%.4f")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
