"""Rebuild every architecture of the NAS-Bench-Suite-Zero tables and compare its executed-module parameter
and FLOP counts (tensorwatch rule, `swapbench.nn.counting`, as the params / flops metrics count) with the
stored `params` / `flops`.

Networks are built on the meta device (shapes only), so the sweep costs Python overhead, not arithmetic.
NB101 / NB201 / NB301: every stored arch. TransNAS-Bench-101 (default): every stored arch of class_scene
(which exercises every encoder in the table) and `--tnb-sample` evenly spaced archs of each other task
(the heads/decoders depend only on the encoder's output width and number of downsamplings);
`--full` checks every arch of every task (about 30 CPU minutes).

    python -m bench.check_params [--spaces nb101,nb201,nb301,tnb101_micro,tnb101_macro] [--full] [--out PATH]

Writes bench/results/params_check.csv (one row per space and task; or --out). A match is |delta| < 1e-6 M.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench.common import RESULTS
from swapbench.data.benchmarks import load_truth
from swapbench.data.datadir import resolve_data_dir
from swapbench.nn.counting import executed_counts
from swapbench.spaces import get_space

SPACES = ("nb101", "nb201", "nb301", "tnb101_micro", "tnb101_macro")
TOL = 1e-6


def rows_to_check(space_name: str, task: str, n: int, full: bool, sample: int) -> np.ndarray:
    if full or not space_name.startswith("tnb101") or task == "class_scene" or sample >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, sample).round().astype(int))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spaces", default=",".join(SPACES))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--full", action="store_true", help="every arch of every TNB task too")
    ap.add_argument("--tnb-sample", type=int, default=100)
    ap.add_argument("--out", type=Path, default=RESULTS / "params_check.csv")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data_dir = resolve_data_dir(args.data_dir)
    records = []
    print(f"{'space':14s} {'task':16s} {'checked':>7s} {'of':>5s} {'params ok':>9s} {'flops ok':>9s} {'sec':>6s}")
    for name in args.spaces.split(","):
        space = get_space(name)
        for task, info in space.tasks.items():
            truth = load_truth(space, task, data_dir)
            rows = rows_to_check(name, task, len(truth), args.full, args.tnb_sample)
            start = time.perf_counter()
            p_ok = f_ok = 0
            bad = []
            for row in rows:
                with torch.device("meta"):
                    net = space.build(truth.archs[row], task)
                params, flops = executed_counts(net, info.input_shape)
                dp = abs(params - truth.stored["params"][row])
                df = abs(flops - truth.stored["flops"][row])
                p_ok += dp < TOL
                f_ok += df < TOL
                if (dp >= TOL or df >= TOL) and len(bad) < 3:
                    bad.append(f"{truth.keys[row]}: params {params:.6f} vs {truth.stored['params'][row]:.6f}, "
                               f"flops {flops:.6f} vs {truth.stored['flops'][row]:.6f}")
            secs = time.perf_counter() - start
            records.append(dict(space=name, task=task, checked=len(rows), table=len(truth), params_matched=p_ok,
                                flops_matched=f_ok, seconds=round(secs, 1)))
            print(f"{name:14s} {task:16s} {len(rows):7d} {len(truth):5d} {p_ok:9d} {f_ok:9d} {secs:6.0f}", flush=True)
            for line in bad:
                print("    MISMATCH", line)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(records)
    frame.to_csv(args.out, index=False)
    total = frame[["checked", "params_matched", "flops_matched"]].sum()
    print(f"total: {total.checked} checked, {total.params_matched} params and {total.flops_matched} flops match; "
          f"wrote {args.out}")


if __name__ == "__main__":
    main()
