"""How much epe_nas on NB201 depends on the labels in its batch, and what that says about the stored values.

epe_nas groups the batch's input Jacobians by label: per class, a sum of log |correlation| (divided by the
class's size when the network has more than 100 outputs); classes with one image drop out (>100 outputs) or
add ~0 (<=100). So the score depends on how many images per class the batch holds, not only on the
network. The ImageNet16-120 substitute's training split has 14 of the 120 classes (~4.6 images per class in
a batch of 64), where a real ImageNet16-120 batch has ~12 classes with two or more images. This script
scores epe_nas on the same architectures and init seeds with three batches:

  train     - the study's batch (fixed policy, seed's batch of training images): the registered setting
  val       - (ImageNet16-120 only) 64 images of the substitute's val_data, which covers all 120 classes
  relabel   - the train batch's images with labels drawn uniformly from all classes (a real batch's
              label structure on the same pixels)

and writes Spearman with NAS-Bench-Suite-Zero's stored epe_nas and with accuracy per batch to
bench/results/epe_label_structure_nb201_<task>.csv (--out DIR: to DIR). The train batch's scores are
`swapbench.score`'s; the other two batches go through the same scoring function with the batch given.

    python -m bench.epe_label_structure --task ImageNet16-120 --limit 150
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import swapbench
from bench.common import RESULTS, spearman, write_result
from swapbench.data.datadir import resolve_data_dir
from swapbench.data.images import load_imagenet16
from swapbench.errors import DataError
from swapbench.proxies.registry import FAILED, get_proxy
from swapbench.study.config import CorrelateConfig
from swapbench.study.runner import Plan, derive_seed, plan_run, run_batch, score_arch


def val_batch(data_dir: Path, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """`size` images of ImageNet16's val_data (all 120 classes), normalised like the training batch; None
    without a val_data file."""
    try:
        images = load_imagenet16(data_dir, split="val")
    except DataError:
        return None
    gen = torch.Generator().manual_seed(derive_seed("val-batch", seed))
    idx = torch.randperm(len(images), generator=gen)[:size]
    mean = torch.tensor(images.mean).view(1, -1, 1, 1)
    std = torch.tensor(images.std).view(1, -1, 1, 1)
    return (images.images[idx].float() / 255.0 - mean) / std, images.labels[idx]


def epe_scores(plan: Plan, seed: int, rows: list[int], batch: tuple[torch.Tensor, torch.Tensor] | None,
               args: argparse.Namespace) -> np.ndarray:
    """epe_nas of each row's network: the run's own batch through `swapbench.score` (batch None), else the
    engine's scoring function on the given batch; failed scores as NaN."""
    if batch is None:
        values = [swapbench.score("nb201", plan.truth.archs[r], args.task, ["epe_nas"], seed=seed,
                                  batch_size=args.batch_size, data_dir=args.data_dir)["epe_nas"].value for r in rows]
    else:
        specs = [get_proxy("epe_nas")]
        values = [score_arch(plan, seed, plan.truth.archs[r], specs, batch)["epe_nas"][0] for r in rows]
    scores = np.array(values, dtype=float)
    scores[scores == FAILED] = np.nan
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="ImageNet16-120")
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory of the result table")
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = CorrelateConfig(space="nb201", task=args.task, proxies=["epe_nas"], n_archs=1000,
                             limit_archs=args.limit, seeds=[args.seed], batch_size=args.batch_size,
                             batch_policy="fixed", data_dir=args.data_dir, threads=1)
    plan = plan_run(config)
    rows = plan.samples[args.seed]
    x, y = run_batch(plan, args.seed, "")  # the fixed policy: one batch for every architecture of the seed
    gen = torch.Generator().manual_seed(derive_seed("relabel", args.seed))
    batches = {"train": (x, y),
               "relabel": (x, torch.randint(0, plan.images.num_classes, y.shape, generator=gen))}
    if args.task == "ImageNet16-120":
        val = val_batch(resolve_data_dir(args.data_dir), args.batch_size, args.seed)
        if val is not None:
            batches["val"] = val
    stored = plan.truth.stored["epe_nas"][rows]
    acc = plan.truth.accuracy[rows]
    table = []
    for name, (bx, by) in batches.items():
        counts = np.bincount(by.numpy())
        scores = epe_scores(plan, args.seed, rows, None if name == "train" else (bx, by), args)
        table.append(dict(task=args.task, batch=name, n=len(rows), batch_size=args.batch_size,
                          classes_in_batch=int((counts > 0).sum()), classes_with_2plus=int((counts > 1).sum()),
                          spearman_ours_stored=spearman(scores, stored), spearman_ours_acc=spearman(scores, acc),
                          spearman_stored_acc=spearman(stored, acc), median_ours=float(np.nanmedian(scores)),
                          median_stored=float(np.nanmedian(stored[stored != FAILED]))))
        print(table[-1], flush=True)
    write_result(pd.DataFrame(table), f"epe_label_structure_nb201_{args.task}.csv", out_dir=args.out)


if __name__ == "__main__":
    main()
