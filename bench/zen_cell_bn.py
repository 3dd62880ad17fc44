"""zen on NB201 with the cells' BatchNorms tracked (as scored) and untracked (two variants), same archs.

NASLib's NB201 graph declares its cell ops' BatchNorms with track_running_stats=False, but since NASLib commit
824b6d38 (2022-03-08) setting an architecture (`convert_op_indices_to_naslib` -> `update_batchnorms`) rebuilds
the chosen ops with affine=True and track_running_stats=True. NAS-Bench-Suite-Zero's tables (May 2022) were
computed after that, so NASLib's zen read tracked statistics in every BN, as our network (and NAS-Bench-201's
own code) has them: `tracked` is the faithful setting. The two untracked variants model NASLib before that
commit, for comparison only:
  tracked    - every BN tracked (swapbench's network; the registered metric as is)
  skip       - cell BNs untracked, left out of the BN term (zen option untracked_bn=skip)
  batch_var  - cell BNs untracked, their batch variance used instead (zen option untracked_bn=batch_var)
`tracked` is `swapbench.score`'s zen; the two others score the same network (`swapbench.build_network`) with
its cell BNs made untracked. Writes Spearman with accuracy to bench/results/zen_cell_bn_nb201_<task>.csv
(--out DIR: to DIR).

    python -m bench.zen_cell_bn --task cifar10 --limit 200
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

import swapbench
from bench.common import RESULTS, spearman, write_result
from swapbench.data.benchmarks import load_truth
from swapbench.data.datadir import resolve_data_dir
from swapbench.proxies.registry import ProxyContext, get_proxy, run_proxy
from swapbench.spaces import get_space
from swapbench.spaces.nb201 import Cell
from swapbench.study.sampling import sample_indices

VARIANTS = ("tracked", "skip", "batch_var")
BATCH = 64  # zen reads only the batch shape


def untrack_cell_bns(net: nn.Module) -> None:
    """Make the cells' BatchNorms like NASLib's NB201 ones (no running statistics)."""
    for cell in net.modules():
        if isinstance(cell, Cell):
            for m in cell.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.track_running_stats = False
                    m.running_mean = m.running_var = m.num_batches_tracked = None


def zen_untracked(arch: object, variant: str, args: argparse.Namespace) -> float:
    """zen of the run's network for `arch` with untracked cell BNs, handled as option untracked_bn=variant."""
    space, spec = get_space("nb201"), get_proxy("zen")
    net = swapbench.build_network("nb201", arch, args.task, seed=args.seed)
    untrack_cell_bns(net)
    ctx = ProxyContext(space=space, task=args.task, seed=args.seed, arch_key=space.canonical_key(arch),
                       options=spec.resolve_options({"untracked_bn": variant}), planned=frozenset({"zen"}))
    return run_proxy(spec, net, torch.zeros((BATCH, *space.task(args.task).input_shape)), None, None, ctx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="cifar10")
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory of the result table")
    args = ap.parse_args()
    torch.set_num_threads(1)
    truth = load_truth(get_space("nb201"), args.task, resolve_data_dir(args.data_dir))
    rows = sample_indices(len(truth), len(truth), args.seed)[: args.limit]
    scores: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for i, row in enumerate(rows, 1):
        arch = truth.archs[row]
        scores["tracked"].append(swapbench.score("nb201", arch, args.task, ["zen"], seed=args.seed, device="cpu",
                                                 batch_size=BATCH, data_dir=args.data_dir)["zen"].value)
        for variant in VARIANTS[1:]:
            scores[variant].append(zen_untracked(arch, variant, args))
        if i % 50 == 0:
            print(f"  {i}/{len(rows)}", flush=True)
    acc = truth.accuracy[rows]
    table = pd.DataFrame([dict(task=args.task, variant=v, n=len(rows), seed=args.seed,
                               spearman_acc=spearman(np.asarray(s), acc))
                          for v, s in scores.items()])
    write_result(table, f"zen_cell_bn_nb201_{args.task}.csv", out_dir=args.out)


if __name__ == "__main__":
    main()
