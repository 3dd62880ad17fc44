"""Agreement of our baseline metrics with NAS-Bench-Suite-Zero's stored scores on NB201.

For a task T, scores (all or --limit N) architectures of zc_nasbench201.json with every metric the table
stores, through the study engine: the same plan, cache keys and scores as `swapbench correlate` /
`swapbench study` with the fixed batch policy (one batch of real training images per seed, no augmentation,
per-architecture init seeds), so scores already in the cache (--cache, default runs/cache.sqlite, shared with
configs/fig4.toml and configs/validate_nb201.toml) are reused and an interrupted validation resumes. Reports
per metric: Spearman(ours, stored), Spearman(ours, accuracy), Spearman(stored, accuracy) on the same
architectures, and |difference| of the last two. Writes bench/results/validate_nb201_<task>.csv
(..._b<size>.csv for a batch size other than 64); with --metrics, only those rows are replaced, so a long
validation can be split into several runs. --cached-only computes nothing and reports on the longest prefix
of the seed's sample whose scores are all cached (e.g. while `swapbench study configs/validate_nb201.toml`
is still running). With --times N it also times every baseline (and lswag) alone, each on a fresh copy with
nothing shared, on the first N architectures, and writes bench/results/metric_times.csv (seconds per
architecture).

    python bench/validate_proxies.py --task cifar10 --workers 2 --threads 1 --extra
    python bench/validate_proxies.py --task cifar10 --limit 150 --threads 1 --metrics grasp,synflow
    python bench/validate_proxies.py --task cifar10 --limit 150 --threads 1 --extra --times 10

--self-seed S instead measures the metrics' own seed-to-seed agreement (another batch and other init
seeds): Spearman(ours at --seed, ours at S) per metric, written to validate_nb201_<task>_self.csv. It is
the ceiling that agreement with the stored scores (computed from yet other batches and inits) can reach.

Stored values are read per entry (a value missing from an entry is NaN and that architecture is left out
of that metric's correlations), so a metric missing from a single entry is still validated.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from swapbench.data.benchmarks import _value, load_truth, nbsz_task_dict
from swapbench.data.datadir import resolve_data_dir
from swapbench.data.images import load_images, make_batch
from swapbench.proxies.registry import ProxyContext, get_proxy, run_proxy
from swapbench.spaces import get_space
from swapbench.study.backends import ExecOptions
from swapbench.study.cache import ScoreCache
from swapbench.study.config import CorrelateConfig
from swapbench.study.runner import (
    Plan,
    collect_scores,
    derive_seed,
    execute_many,
    missing_metrics,
    plan_run,
    stored_seconds,
)

OUT = Path(__file__).resolve().parent / "results"
BASELINES = ["plain", "grasp", "fisher", "grad_norm", "snip", "synflow", "l2_norm", "params", "flops",
             "jacov", "nwot", "epe_nas", "zen", "zico", "num_lr"]
EXTRA = ["zen", "zico", "num_lr", "lswag"]  # not stored in the table: correlation with accuracy only


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def write_result(frame: pd.DataFrame, name: str, shown: pd.DataFrame | None = None) -> Path:
    """bench/results/NAME with 4 decimals, echoed (or `shown`) to the console with 3."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    frame.to_csv(path, index=False, float_format="%.4f")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print((frame if shown is None else shown).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {path}")
    return path


def stored_values(space, task: str, data_dir: Path, keys: list[str]) -> dict[str, np.ndarray]:
    """Per metric, the stored value of each key (NaN where an entry lacks it)."""
    entries = nbsz_task_dict(space, task, data_dir)
    names = {n for k in keys for n in entries[k] if n not in ("idx", "arch", "val_accuracy")}
    return {n: np.array([_value(entries[k][n]) if n in entries[k] else np.nan for k in keys]) for n in names}


def build(space, arch, task: str, seed: int) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed("init", seed, space.canonical_key(arch)))
        return space.build(arch, task)


def score_all(space, task, arch, names, x, y, seed, shared=True) -> dict[str, tuple[float, float]]:
    """One architecture scored in this process (only for --times, which must not read the cache)."""
    net = build(space, arch, task, seed)
    memo: dict = {}
    out = {}
    for name in names:
        spec = get_proxy(name)
        ctx = ProxyContext(space=space, task=task, seed=seed, arch_key=space.canonical_key(arch),
                           options=spec.resolve_options(), memo=memo if shared else {})
        start = time.perf_counter()
        value = run_proxy(spec, net, x, y, space.loss_fn(task), ctx)
        out[name] = (value, time.perf_counter() - start)
    return out


def cached_prefix(plan: Plan, cache: ScoreCache) -> Plan:
    """The plan cut, per seed, to the longest prefix of its sample whose scores are all cached."""
    samples = {}
    for seed, rows in plan.samples.items():
        status = missing_metrics(plan, cache, seed)
        k = next((i for i, (_row, missing) in enumerate(status) if missing), len(rows))
        samples[seed] = rows[:k]
    return replace(plan, samples=samples)


def engine_scores(args, task: str, names: list[str], seeds: list[int]) -> tuple[Plan, ScoreCache, pd.DataFrame]:
    """Scores of `names` for every seed's sample, computed (or reused) through the study engine."""
    config = CorrelateConfig(space="nb201", task=task, proxies=names, n_archs=1000, limit_archs=args.limit,
                             seeds=seeds, batch_size=args.batch_size, batch_policy="fixed", cache=args.cache,
                             data_dir=args.data_dir, threads=args.threads)
    plan = plan_run(config)
    if len(seeds) > 1:
        # Seed-to-seed agreement compares the same architectures: every seed scores the first seed's sample
        # (a seed's own sample is another permutation, so its --limit prefix holds other archs).
        plan = replace(plan, samples={s: plan.samples[seeds[0]] for s in seeds})
    cache = ScoreCache(config.cache_path())
    if args.cached_only:
        plan = cached_prefix(plan, cache)
        if min(len(v) for v in plan.samples.values()) < 3:
            raise SystemExit(f"nb201/{task}: fewer than 3 architectures have every score cached in {args.cache}")
    else:
        total, done, start = plan.total, [0], time.perf_counter()

        def progress(_plan: int, k: int) -> None:
            before, done[0] = done[0], done[0] + k
            if done[0] // 25 != before // 25 or done[0] == total:
                print(f"  {done[0]}/{total} archs, {time.perf_counter() - start:.0f} s", flush=True)

        execute_many([plan], cache, ExecOptions(workers=args.workers, threads=args.threads), progress)
    return plan, cache, collect_scores(plan, cache)


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
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    data_dir = resolve_data_dir(args.data_dir)
    space = get_space("nb201")
    truth = load_truth(space, args.task, data_dir)
    reference_all = stored_values(space, args.task, data_dir, truth.keys)
    stored = [m for m in BASELINES if m in reference_all]
    names = args.metrics.split(",") if args.metrics else stored
    names += [m for m in EXTRA if m not in reference_all and m not in names] if args.extra else []
    seeds = [args.seed] + ([args.self_seed] if args.self_seed is not None else [])
    print(f"nb201/{args.task}: {'cached prefix of ' if args.cached_only else ''}"
          f"{args.limit or len(truth)} archs, batch {args.batch_size}, seeds {seeds}, metrics: {', '.join(names)}",
          flush=True)
    plan, cache, frame = engine_scores(args, args.task, names, seeds)
    rows = plan.samples[args.seed]
    scores = by_metric(frame, args.seed, names)
    suffix = "" if args.batch_size == 64 else f"_b{args.batch_size}"
    if args.self_seed is not None:
        other = by_metric(frame, args.self_seed, names)
        n = min(len(rows), len(plan.samples[args.self_seed]))
        table = pd.DataFrame([
            dict(metric=m, n=n, seed=args.seed, self_seed=args.self_seed, batch_size=args.batch_size,
                 spearman_ours_self=spearman(scores[m][:n], other[m][:n]))
            for m in names
        ])
        write_result(table, f"validate_nb201_{args.task}{suffix}_self.csv")
        return

    acc = truth.accuracy[rows]
    seconds = stored_seconds(plan, cache)
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
    path = OUT / name
    if path.exists():  # keep the rows of metrics not recomputed in this run (same settings only)
        old = pd.read_csv(path)
        same = (old.get("limit") == len(rows)) & (old.get("seed") == args.seed) & (
            old.get("batch_size") == args.batch_size)
        old = old[same & ~old["metric"].isin(names)] if "limit" in old else old.iloc[0:0]
        order = {m: i for i, m in enumerate(BASELINES + EXTRA)}
        frame = pd.concat([old, frame], ignore_index=True)
        frame = frame.sort_values("metric", key=lambda c: c.map(lambda m: order.get(m, 99)), kind="stable")
    write_result(frame, name)

    if args.times:
        timed = BASELINES + ["lswag"]
        images = load_images(space.task(args.task).dataset, data_dir)
        x, y = make_batch(images, args.batch_size, torch.Generator().manual_seed(derive_seed("batch", args.seed)))
        per = {m: [] for m in timed}
        for row in rows[: args.times]:
            for name, (_, secs) in score_all(space, args.task, truth.archs[row], timed, x, y, args.seed,
                                             shared=False).items():
                per[name].append(secs)
        times = pd.DataFrame([
            dict(metric=m, archs=len(v), mean_s=float(np.mean(v)), median_s=float(np.median(v)),
                 max_s=float(np.max(v)), batch_size=args.batch_size, threads=args.threads, device="cpu",
                 task=args.task, cpu=platform.processor() or platform.machine())
            for m, v in per.items()
        ])
        write_result(times, "metric_times.csv", shown=times[["metric", "archs", "mean_s", "median_s", "max_s"]])


if __name__ == "__main__":
    main()
