"""A metric's own seed-to-seed agreement: the same architectures (the seed-0 sample) scored with seed 0's and
seed 1's batches and initialisations. It bounds how well our scores can agree with stored scores that were
computed from yet other batches and initialisations.

    python -m bench.seed_agreement nb301 cifar10 jacov,snip 100 [THREADS]   (protocol nbsz, cache runs/validate.sqlite)

Each call also adds its rows (space, task, metric, n, rho and its 95 % bootstrap interval) to
bench/results/seed_agreement.csv, replacing earlier rows of the same space, task and metric.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from bench.common import RESULTS
from swapbench.api import execution
from swapbench.study.config import Column, CorrelateConfig, StudyConfig
from swapbench.study.engine import RunOptions, run_study
from swapbench.study.runner import plan_run
from swapbench.study.stats import bootstrap_correlations, percentile_interval, rank_correlations


def main(space: str, task: str, metrics: list[str], n: int, threads: int = 2,
         cache: str = "runs/validate.sqlite") -> None:
    config = CorrelateConfig(space=space, task=task, proxies=metrics, n_archs=n, seeds=[0, 1], protocol="nbsz",
                             cache=cache)
    plan = plan_run(config)
    plan.samples = {0: plan.samples[0], 1: plan.samples[0]}  # the same archs, scored with seed 1's batches/inits
    study = StudyConfig(name="seed-agreement", columns=[Column(space, task)], proxies=metrics, seeds=[0, 1],
                        protocol="nbsz")
    scores = run_study(study, RunOptions(cache=cache, execution=execution(threads=threads)), plans=[plan]).scores
    rows = []
    for metric in metrics:
        a = scores[(scores.proxy == metric) & (scores.seed == 0)].set_index("arch")["score"]
        b = scores[(scores.proxy == metric) & (scores.seed == 1)].set_index("arch")["score"].reindex(a.index)
        ok = np.isfinite(a.to_numpy()) & np.isfinite(b.to_numpy())
        rho = rank_correlations(a.to_numpy()[ok], b.to_numpy()[ok])[0]
        lo, hi = percentile_interval(bootstrap_correlations(a.to_numpy()[ok], b.to_numpy()[ok])[0])
        print(f"{space}/{task} {metric}: seed 0 vs seed 1 on the same {int(ok.sum())} archs: "
              f"rho {rho:.3f} [{lo:.3f}, {hi:.3f}]")
        rows.append(dict(space=space, task=task, metric=metric, protocol="nbsz", n=int(ok.sum()),
                         rho=round(rho, 4), lo=round(lo, 4), hi=round(hi, 4)))
    path = RESULTS / "seed_agreement.csv"
    old = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=list(rows[0]))
    keep = ~old.set_index(["space", "task", "metric"]).index.isin([(r["space"], r["task"], r["metric"]) for r in rows])
    pd.concat([old[keep], pd.DataFrame(rows)], ignore_index=True).to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="a metric's seed-0 vs seed-1 agreement on the same archs")
    parser.add_argument("space")
    parser.add_argument("task")
    parser.add_argument("metrics", help="comma-separated metric names")
    parser.add_argument("n", type=int, help="architectures (the first n of seed 0's sample)")
    parser.add_argument("threads", type=int, nargs="?", default=2)
    parser.add_argument("--cache", default="runs/validate.sqlite")
    args = parser.parse_args()
    main(args.space, args.task, args.metrics.split(","), args.n, args.threads, args.cache)
