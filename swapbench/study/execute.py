"""Executing plans: find what the cache lacks, hand it to a backend as jobs, and commit every result the
moment it comes back, so an interrupted run loses nothing but the jobs in flight."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from swapbench.device import set_deterministic
from swapbench.errors import Interrupted, WorkerLost
from swapbench.study.backends import ExecOptions, Job, run_jobs
from swapbench.study.cache import ScoreCache
from swapbench.study.runner import Plan


def missing_metrics(plan: Plan, cache: ScoreCache, seed: int) -> list[tuple[int, tuple[str, ...]]]:
    """Per sample row of `seed`, in sample order, the plan's metrics whose score is not cached yet."""
    rows = plan.samples[seed]
    canon = [plan.space.canonical_key(plan.truth.archs[r]) for r in rows]
    stored = {s.name: cache.fetch(plan.keys[s.name], seed, canon) for s in plan.proxies}
    return [(row, tuple(s.name for s in plan.proxies if ck not in stored[s.name]))
            for row, ck in zip(rows, canon, strict=True)]


def pending_jobs(plans: list[Plan], cache: ScoreCache, chunk: int) -> tuple[list[Job], list[int]]:
    """Jobs for every (plan, seed, arch) with a metric not yet in the cache, in plan/seed/sample order;
    and per plan, the number of architectures that are already complete."""
    jobs: list[Job] = []
    complete = []
    for index, plan in enumerate(plans):
        done = 0
        for seed in plan.samples:
            items = [(row, missing) for row, missing in missing_metrics(plan, cache, seed) if missing]
            done += len(plan.samples[seed]) - len(items)
            for start in range(0, len(items), chunk):
                jobs.append(Job(index, seed, tuple(items[start:start + chunk])))
        complete.append(done)
    return jobs, complete


def execute_many(plans: list[Plan], cache: ScoreCache, options: ExecOptions | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 notice: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score everything of several plans not yet cached, on one backend; each finished job is committed
    to the cache before the next result is taken. progress(plan_index, n_archs): once per plan with the archs
    the cache already held, then as archs complete."""
    options = options or ExecOptions()
    options.check()
    set_deterministic()
    for plan in plans:
        for spec in plan.proxies:
            cache.register(plan.keys[spec.name], plan.key_idents[spec.name])
    chunk = options.chunk or (1 if options.backend == "local" else 4)
    jobs, complete = pending_jobs(plans, cache, chunk)
    if progress:  # first, every plan's count already in the cache (0 too): displays keep it out of the rate
        for index, done in enumerate(complete):
            progress(index, done)
    per_plan = [dict(computed=0, reused=0, compute_seconds={p.name: 0.0 for p in plan.proxies}, finished_after=0.0)
                for plan in plans]
    for index, plan in enumerate(plans):
        queued = sum(len(names) for job in jobs if job.plan == index for _, names in job.items)
        per_plan[index]["reused"] = plan.total * len(plan.proxies) - queued
    start = time.perf_counter()

    def on_result(job: Job, scores: list) -> None:
        plan = plans[job.plan]
        cache.put_many([(plan.keys[name], job.seed, arch_key, value, secs) for name, arch_key, value, secs in scores])
        stats = per_plan[job.plan]
        stats["computed"] += len(scores)
        for name, _, _, secs in scores:
            stats["compute_seconds"][name] += secs
        stats["finished_after"] = time.perf_counter() - start
        if progress:
            progress(job.plan, job.size)

    try:
        backend = run_jobs(plans, jobs, options, on_result, notice)
    except KeyboardInterrupt:
        computed = sum(s["computed"] for s in per_plan)
        raise Interrupted(f"interrupted; {computed} score(s) computed in this run are kept in {cache.path} "
                          "(with every earlier one); re-run the same command to resume") from None
    except WorkerLost as exc:
        computed = sum(s["computed"] for s in per_plan)
        raise WorkerLost(f"{exc}; {computed} score(s) computed in this run are kept in {cache.path} (with every "
                         "earlier one); re-run the same command to resume") from None
    return dict(per_plan=per_plan, wall_seconds=time.perf_counter() - start, backend=backend)


def execute(plan: Plan, cache: ScoreCache, progress: Callable[[int], None] | None = None,
            options: ExecOptions | None = None) -> dict[str, Any]:
    """Score everything of one plan not yet cached. Returns counts and timings."""
    result = execute_many([plan], cache, options, (lambda _, k: progress(k)) if progress else None)
    stats = result["per_plan"][0]
    return dict(computed=stats["computed"], reused=stats["reused"], wall_seconds=result["wall_seconds"],
                compute_seconds=stats["compute_seconds"], backend=result["backend"])
