"""Agreement of our baseline metrics with NAS-Bench-Suite-Zero's stored scores on NB201.

For a task T, scores (all or --limit N) architectures of zc_nasbench201.json with every metric the table
stores, through the study engine (`swapbench.correlate`): the same plan, cache keys and scores as
`swapbench correlate` / `swapbench study` with the fixed batch policy (one batch of real training images per
seed, no augmentation, per-architecture init seeds), so scores already in the cache (--cache, default
runs/cache.sqlite, shared with configs/fig4.toml and configs/validate_nb201.toml) are reused and an
interrupted validation resumes. Reports per metric: Spearman(ours, stored), Spearman(ours, accuracy),
Spearman(stored, accuracy) on the same architectures, and |difference| of the last two. Writes
bench/results/validate_nb201_<task>.csv (..._b<size>.csv for a batch size other than 64); with --metrics, only
those rows are replaced, so a long validation can be split into several runs. --cached-only computes nothing
and reports on the longest prefix of the seed's sample whose scores are all cached (e.g. while
`swapbench study configs/validate_nb201.toml` is still running). With --times N it also times every baseline
(and lswag) alone, each on a fresh network with nothing shared (`swapbench.score` with that metric alone), on
the first N architectures, and writes bench/results/metric_times.csv (seconds per architecture). --out DIR
writes the tables to DIR instead of bench/results.

    python -m bench.validate_proxies --task cifar10 --workers 2 --threads 1 --extra
    python -m bench.validate_proxies --task cifar10 --limit 150 --threads 1 --metrics grasp,synflow
    python -m bench.validate_proxies --task cifar10 --limit 150 --threads 1 --extra --times 10

--self-seed S instead measures the metrics' own seed-to-seed agreement (another batch and other init
seeds): Spearman(ours at --seed, ours at S) per metric, written to validate_nb201_<task>_self.csv. It is
the ceiling that agreement with the stored scores (computed from yet other batches and inits) can reach.

Stored values are read per entry (a value missing from an entry is NaN and that architecture is left out
of that metric's correlations), so a metric missing from a single entry is still validated.
"""

from __future__ import annotations

import argparse
import platform
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import swapbench
from bench.common import RESULTS, spearman, write_result
from swapbench.api import execution
from swapbench.data.benchmarks import load_truth
from swapbench.data.datadir import resolve_data_dir
from swapbench.report.progress import ConsoleDisplay
from swapbench.spaces import get_space
from swapbench.study.cache import ScoreCache
from swapbench.study.config import Column, StudyConfig, column_configs
from swapbench.study.engine import RunOptions, StudyResult, gather, plan_study, run_study
from swapbench.study.execute import missing_metrics
from swapbench.study.runner import Plan

BASELINES = ["plain", "grasp", "fisher", "grad_norm", "snip", "synflow", "l2_norm", "params", "flops",
             "jacov", "nwot", "epe_nas", "zen", "zico", "num_lr"]
EXTRA = ["zen", "zico", "num_lr", "lswag"]  # not stored in the table: correlation with accuracy only


def cached_prefix(plan: Plan, cache: ScoreCache) -> Plan:
    """The plan cut, per seed, to the longest prefix of its sample whose scores are all cached."""
    samples = {}
    for seed, rows in plan.samples.items():
        status = missing_metrics(plan, cache, seed)
        k = next((i for i, (_row, missing) in enumerate(status) if missing), len(rows))
        samples[seed] = rows[:k]
    return replace(plan, samples=samples)


def engine_scores(args: argparse.Namespace, names: list[str], seeds: list[int]) -> StudyResult:
    """Scores of `names` for every seed's sample, computed (or reused) by the study engine. A plain
    validation is `swapbench.correlate`; the two other modes adjust the engine's own plan first: with a
    second seed every seed scores the first seed's sample (seed-to-seed agreement compares the same
    architectures; a seed's own sample is another permutation, so its --limit prefix holds other archs), and
    --cached-only keeps each seed's cached prefix and scores nothing."""
    exec_options = execution(workers=args.workers, threads=args.threads)
    display = ConsoleDisplay()
    if len(seeds) == 1 and not args.cached_only:
        return swapbench.correlate("nb201", args.task, names, n_archs=1000, seeds=seeds, batch_size=args.batch_size,
                                   batch_policy="fixed", cache=args.cache, data_dir=args.data_dir,
                                   limit_archs=args.limit, exec_options=exec_options, display=display).run
    study = StudyConfig(name=f"nb201-{args.task}", columns=[Column("nb201", args.task, batch_size=args.batch_size)],
                        proxies=names, seeds=seeds, n_archs=1000, batch_policy="fixed", cache=args.cache)
    (plan,) = plan_study(column_configs(study, limit_archs=args.limit, data_dir=args.data_dir, threads=args.threads))
    if len(seeds) > 1:
        plan = replace(plan, samples={s: plan.samples[seeds[0]] for s in seeds})
    if not args.cached_only:
        options = RunOptions(limit_archs=args.limit, data_dir=args.data_dir, threads=args.threads,
                             execution=exec_options)
        return run_study(study, options, display, plans=[plan])
    cache = ScoreCache(Path(args.cache))
    try:
        plan = cached_prefix(plan, cache)
        if min(len(v) for v in plan.samples.values()) < 3:
            raise SystemExit(f"nb201/{args.task}: fewer than 3 architectures have every score cached in "
                             f"{args.cache}")
        return gather([plan], cache)
    finally:
        cache.close()


def by_metric(frame: pd.DataFrame, seed: int, names: list[str]) -> dict[str, np.ndarray]:
    part = frame[frame["seed"] == seed]
    return {m: part[part["proxy"] == m]["score"].to_numpy(dtype=float) for m in names}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="cifar10")
    ap.add_argument("--limit", type=int, default=None, help="score N architectures sampled with --seed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--metrics", default=None, help="comma list (default: every stored baseline)")
    ap.add_argument("--extra", action="store_true", help=f"also score {', '.join(EXTRA)} (vs accuracy only)")
    ap.add_argument("--times", type=int, default=0, help="time each metric alone on N architectures")
    ap.add_argument("--self-seed", type=int, default=None, help="seed-to-seed agreement mode (see above)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--cache", default="runs/cache.sqlite", help="score cache shared with studies")
    ap.add_argument("--workers", type=int, default=1, help="worker processes for the scoring")
    ap.add_argument("--cached-only", action="store_true", help="compute nothing: the cached prefix only")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory of the result tables")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    truth = load_truth(get_space("nb201"), args.task, resolve_data_dir(args.data_dir))
    reference_all = truth.stored  # NAS-Bench-Suite-Zero's value per row and metric (NaN where an entry lacks it)
    stored = [m for m in BASELINES if m in reference_all]
    names = args.metrics.split(",") if args.metrics else stored
    names += [m for m in EXTRA if m not in reference_all and m not in names] if args.extra else []
    seeds = [args.seed] + ([args.self_seed] if args.self_seed is not None else [])
    print(f"nb201/{args.task}: {'cached prefix of ' if args.cached_only else ''}"
          f"{args.limit or len(truth)} archs, batch {args.batch_size}, seeds {seeds}, metrics: {', '.join(names)}",
          flush=True)
    result = engine_scores(args, names, seeds)
    frame = result.scores  # in (seed, sample order, metric order)
    row_of = {key: i for i, key in enumerate(truth.keys)}
    rows = [row_of[key] for key in frame[(frame["seed"] == args.seed) & (frame["proxy"] == names[0])]["arch"]]
    scores = by_metric(frame, args.seed, names)
    suffix = "" if args.batch_size == 64 else f"_b{args.batch_size}"
    if args.self_seed is not None:
        other = by_metric(frame, args.self_seed, names)
        n = min(len(rows), len(other[names[0]]))
        table = pd.DataFrame([
            dict(metric=m, n=n, seed=args.seed, self_seed=args.self_seed, batch_size=args.batch_size,
                 spearman_ours_self=spearman(scores[m][:n], other[m][:n]))
            for m in names
        ])
        write_result(table, f"validate_nb201_{args.task}{suffix}_self.csv", out_dir=args.out)
        return

    acc = truth.accuracy[rows]
    seconds = result.timings[0]["per_metric"]
    table = []
    for name in names:
        ours = scores[name]
        entry = dict(metric=name, n=len(ours), failed=int(np.sum(ours == -1e8)))
        r_acc = spearman(ours, acc)
        if name in reference_all:
            ref = reference_all[name][rows]
            ok = ~np.isnan(ref)
            r_acc = spearman(ours[ok], acc[ok])
            r_ref = spearman(ref[ok], acc[ok])
            entry.update(n=int(ok.sum()), spearman_ours_stored=spearman(ours[ok], ref[ok]),
                         spearman_ours_acc=r_acc, spearman_stored_acc=r_ref, abs_diff=abs(r_acc - r_ref))
        else:
            entry.update(spearman_ours_stored=np.nan, spearman_ours_acc=r_acc, spearman_stored_acc=np.nan,
                         abs_diff=np.nan)
        entry["seconds_per_arch_shared"] = seconds[name]["mean"]
        table.append(entry)
    frame = pd.DataFrame(table)
    frame["limit"], frame["seed"], frame["batch_size"] = len(rows), args.seed, args.batch_size
    name = f"validate_nb201_{args.task}{suffix}.csv"
    path = args.out / name
    if path.exists():  # keep the rows of metrics not recomputed in this run (same settings only)
        old = pd.read_csv(path)
        same = (old.get("limit") == len(rows)) & (old.get("seed") == args.seed) & (
            old.get("batch_size") == args.batch_size)
        old = old[same & ~old["metric"].isin(names)] if "limit" in old else old.iloc[0:0]
        order = {m: i for i, m in enumerate(BASELINES + EXTRA)}
        frame = pd.concat([old, frame], ignore_index=True)
        frame = frame.sort_values("metric", key=lambda c: c.map(lambda m: order.get(m, 99)), kind="stable")
    write_result(frame, name, out_dir=args.out)

    if args.times:
        # each metric alone: its own network, batch and memo, exactly as `swapbench.score` computes it
        timed = BASELINES + ["lswag"]
        per: dict[str, list[float]] = {m: [] for m in timed}
        for row in rows[: args.times]:
            for name in timed:
                alone = swapbench.score("nb201", truth.archs[row], args.task, [name], seed=args.seed,
                                        batch_size=args.batch_size, device="cpu", data_dir=args.data_dir)
                per[name].append(alone[name].seconds)
        times = pd.DataFrame([
            dict(metric=m, archs=len(v), mean_s=float(np.mean(v)), median_s=float(np.median(v)),
                 max_s=float(np.max(v)), batch_size=args.batch_size, threads=args.threads, device="cpu",
                 task=args.task, cpu=platform.processor() or platform.machine())
            for m, v in per.items()
        ])
        write_result(times, "metric_times.csv", shown=times[["metric", "archs", "mean_s", "median_s", "max_s"]],
                     out_dir=args.out)


if __name__ == "__main__":
    main()
