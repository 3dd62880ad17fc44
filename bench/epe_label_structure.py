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
bench/results/epe_label_structure_nb201_<task>.csv.

    python bench/epe_label_structure.py --task ImageNet16-120 --limit 150
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats
from validate_proxies import stored_values, write_result  # this directory: NB-SZ's stored scores per arch

from swapbench.data.datadir import resolve_data_dir
from swapbench.data.images import _unpickle
from swapbench.proxies.registry import get_proxy
from swapbench.study.config import CorrelateConfig
from swapbench.study.runner import _batch, derive_seed, plan_run, score_arch


def val_batch(plan, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """`size` images of ImageNet16's val_data (all 120 classes), normalised like the training batch."""
    folder = Path(plan.images.source)
    path = folder / "val_data"
    if not path.exists():
        return None
    entry = _unpickle(path, encoding="latin1")
    imgs = torch.from_numpy(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 16, 16))
    labels = torch.as_tensor(np.asarray(entry["labels"], dtype=np.int64) - 1)
    gen = torch.Generator().manual_seed(derive_seed("val-batch", seed))
    idx = torch.randperm(len(imgs), generator=gen)[:size]
    mean = torch.tensor(plan.images.mean).view(1, -1, 1, 1)
    std = torch.tensor(plan.images.std).view(1, -1, 1, 1)
    return (imgs[idx].float() / 255.0 - mean) / std, labels[idx]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~(np.isnan(a) | np.isnan(b))
    return float(stats.spearmanr(a[ok], b[ok]).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="ImageNet16-120")
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = CorrelateConfig(space="nb201", task=args.task, proxies=["epe_nas"], n_archs=1000,
                             limit_archs=args.limit, seeds=[args.seed], batch_size=args.batch_size,
                             batch_policy="fixed", data_dir=args.data_dir, threads=1)
    plan = plan_run(config)
    rows = plan.samples[args.seed]
    specs = [get_proxy("epe_nas")]
    x, y = _batch(plan, args.seed, "")
    gen = torch.Generator().manual_seed(derive_seed("relabel", args.seed))
    batches = {"train": (x, y),
               "relabel": (x, torch.randint(0, plan.images.num_classes, y.shape, generator=gen))}
    if args.task == "ImageNet16-120":
        val = val_batch(plan, args.batch_size, args.seed)
        if val is not None:
            batches["val"] = val
    stored = stored_values(plan.space, args.task, resolve_data_dir(args.data_dir), plan.truth.keys)["epe_nas"][rows]
    acc = plan.truth.accuracy[rows]
    table = []
    for name, (bx, by) in batches.items():
        counts = np.bincount(by.numpy())
        scores = np.array([score_arch(plan, args.seed, plan.truth.archs[r], specs, (bx, by))["epe_nas"][0]
                           for r in rows], dtype=float)
        scores[scores == -1e8] = np.nan
        table.append(dict(task=args.task, batch=name, n=len(rows), batch_size=args.batch_size,
                          classes_in_batch=int((counts > 0).sum()), classes_with_2plus=int((counts > 1).sum()),
                          spearman_ours_stored=spearman(scores, stored), spearman_ours_acc=spearman(scores, acc),
                          spearman_stored_acc=spearman(stored, acc), median_ours=float(np.nanmedian(scores)),
                          median_stored=float(np.nanmedian(stored[stored != -1e8]))))
        print(table[-1], flush=True)
    write_result(pd.DataFrame(table), f"epe_label_structure_nb201_{args.task}.csv")


if __name__ == "__main__":
    main()
