"""Why our NB201 zen correlates less with accuracy than NAS-Bench-Suite-Zero's published zen.

NASLib builds NB201's cell BatchNorms with track_running_stats=False, so they have no running_var, and
NASLib's zen (which sums log sqrt(mean running_var) over every BatchNorm2d) cannot read them; the NB-SZ
values were computed anyway, so how those layers entered the BN term is not recoverable from the code.
Our NB201 network tracks statistics in every BatchNorm (as NAS-Bench-201's own code does). This script
scores zen three ways on the same architectures, seeds and Gaussian inputs:
  tracked    - every BN tracked (swapbench's network; the registered metric as is)
  skip       - cell BNs untracked, left out of the BN term (zen option untracked_bn=skip)
  batch_var  - cell BNs untracked, their batch variance used instead (zen option untracked_bn=batch_var)
and writes Spearman with accuracy to bench/results/zen_cell_bn_nb201_<task>.csv.

    python bench/zen_cell_bn.py --task cifar10 --limit 200
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn
from validate_proxies import write_result  # this directory

from swapbench.data.benchmarks import load_truth
from swapbench.data.datadir import resolve_data_dir
from swapbench.proxies.registry import ProxyContext, get_proxy, run_proxy
from swapbench.spaces import get_space
from swapbench.spaces.nb201 import Cell
from swapbench.study.sampling import sample_indices

VARIANTS = ("tracked", "skip", "batch_var")


def untrack_cell_bns(net: nn.Module) -> None:
    """Make the cells' BatchNorms like NASLib's NB201 ones (no running statistics)."""
    for cell in net.modules():
        if isinstance(cell, Cell):
            for m in cell.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.track_running_stats = False
                    m.running_mean = m.running_var = m.num_batches_tracked = None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="cifar10")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    space = get_space("nb201")
    truth = load_truth(space, args.task, resolve_data_dir(args.data_dir))
    rows = sample_indices(len(truth), len(truth), args.seed)[: args.limit]
    shape = (64, *space.task(args.task).input_shape)  # zen reads only the batch shape
    spec = get_proxy("zen")
    scores: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for i, row in enumerate(rows, 1):
        arch = truth.archs[row]
        for variant in VARIANTS:
            net = space.build(arch, args.task)
            if variant != "tracked":
                untrack_cell_bns(net)
            ctx = ProxyContext(space=space, task=args.task, seed=args.seed, arch_key=space.canonical_key(arch),
                               options=spec.resolve_options({"untracked_bn": "skip" if variant == "tracked"
                                                             else variant}), memo={})
            scores[variant].append(run_proxy(spec, net, torch.zeros(shape), None, None, ctx))
        if i % 50 == 0:
            print(f"  {i}/{len(rows)}", flush=True)
    acc = truth.accuracy[rows]
    table = pd.DataFrame([dict(task=args.task, variant=v, n=len(rows), seed=args.seed,
                               spearman_acc=float(stats.spearmanr(np.asarray(s), acc).statistic))
                          for v, s in scores.items()])
    write_result(table, f"zen_cell_bn_nb201_{args.task}.csv")


if __name__ == "__main__":
    main()
