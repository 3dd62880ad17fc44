"""The one run engine: plan every column, score what the cache lacks on one backend (with progress), and
gather scores, correlations and summary. `correlate` (a one-column study), `study`, `regress`, the
ablations and the Python API all run through `run_study`; what a run writes is decided in `report`."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from swapbench.study.backends import ExecOptions
from swapbench.study.cache import ScoreCache
from swapbench.study.config import CorrelateConfig, StudyConfig, column_configs, default_cache
from swapbench.study.execute import execute_many
from swapbench.study.runner import Plan, plan_run, results_frames, stored_seconds
from swapbench.study.stats import ceiling_notes
from swapbench.version import __version__


class Display(Protocol):
    """What the engine needs of a progress display (the CLI's lives in report.progress)."""

    def notice(self, text: str) -> None: ...

    def track(self, labels: list[str], totals: list[int]) -> contextlib.AbstractContextManager[
            Callable[[int, int], None]]: ...

    def track_growing(self, label: str, total: int) -> contextlib.AbstractContextManager[
            Callable[[int, int], None]]:
        """advance(done, more): for work whose total grows as it goes (a search)."""
        ...


class Silent:
    """No output: the default of the Python API."""

    def notice(self, text: str) -> None:
        pass

    @contextlib.contextmanager
    def track(self, labels: list[str], totals: list[int]) -> Iterator[Callable[[int, int], None]]:
        yield lambda index, k: None

    @contextlib.contextmanager
    def track_growing(self, label: str, total: int) -> Iterator[Callable[[int, int], None]]:
        yield lambda done, more: None


@dataclass
class RunOptions:
    """How (not what) to run: overrides of a study's sample and seeds, where data and scores live, and the
    execution backend."""

    limit_archs: int | None = None  # the first N sampled archs per seed (a prefix of the full sample)
    seeds: list[int] | None = None
    protocol: str | None = None
    data_dir: str | None = None
    device: str | None = None
    threads: int | None = None
    cache: str | None = None  # None: the study's, else default_cache()
    execution: ExecOptions = field(default_factory=ExecOptions)

    def cache_path(self, study: StudyConfig) -> Path:
        return Path(self.cache or study.cache or default_cache())


@dataclass
class StudyResult:
    """Everything a run produced: long scores, per-seed correlations, the summary, timings and run metadata
    (the run.json contents)."""

    scores: pd.DataFrame  # space, task, seed, arch, proxy, score, accuracy
    correlations: pd.DataFrame  # one row per (column, proxy, seed)
    summary: pd.DataFrame  # one row per (column, proxy), with the `input` (real / substitute) of the column
    timings: list[dict[str, Any]]  # per column
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def computed(self) -> int:
        return sum(t["computed_this_run"] for t in self.timings)


def plan_study(configs: list[CorrelateConfig]) -> list[Plan]:
    """Plan every column before scoring any, so a bad column fails the study at once."""
    return [plan_run(c) for c in configs]


def run_study(study: StudyConfig, options: RunOptions | None = None, display: Display | None = None,
              command: str | None = None, kind: str = "study", plans: list[Plan] | None = None,
              ready: Callable[[], None] | None = None) -> StudyResult:
    """Plan, score everything not cached (committing each score at once), and gather the results.
    `plans` lets a caller adjust the planned samples first (the regulariser ablation's disjoint groups);
    `ready` runs once every input is checked and before any scoring (e.g. to check the output directory)."""
    options = options or RunOptions()
    display = display or Silent()
    if plans is None:
        plans = plan_study(column_configs(
            study, limit_archs=options.limit_archs, seeds=options.seeds, data_dir=options.data_dir,
            threads=options.threads, device=options.device, cache=str(options.cache_path(study)),
            protocol=options.protocol, checkpointing=options.execution.checkpointing))
    if ready is not None:
        ready()
    for plan in plans:
        for notice in plan.notices:
            display.notice(f"{plan.space.name}/{plan.config.task}: {notice}" if len(plans) > 1 else notice)
    store = ScoreCache(options.cache_path(study))
    try:
        labels = [f"{p.space.name}/{p.config.task}" for p in plans]
        with display.track(labels, [p.total for p in plans]) as advance:
            stats = execute_many(plans, store, options.execution, advance, display.notice)
        result = gather(plans, store, stats)
    finally:
        store.close()
    for plan in plans:
        column = result.summary[(result.summary["space"] == plan.space.name)
                                & (result.summary["task"] == plan.config.task)]
        for note in ceiling_notes(column):
            plan.notices.append(note)  # kept in run.json with the column's other notices
            display.notice(note)
    result.meta = run_metadata(study, plans, result, stats, command, options, kind)
    return result


def gather(plans: list[Plan], cache: ScoreCache, stats: dict[str, Any] | None = None) -> StudyResult:
    """Scores, correlations and summary of finished plans, read back from the cache."""
    scores, corrs, summaries, timings = [], [], [], []
    for index, plan in enumerate(plans):
        s, c, m = results_frames(plan, cache)
        s.insert(0, "task", plan.config.task)
        s.insert(0, "space", plan.space.name)
        scores.append(s)
        corrs.append(c)
        summaries.append(m)
        per_arch = stored_seconds(plan, cache)
        this = (stats or {}).get("per_plan", [{}] * len(plans))[index]
        timings.append(dict(
            column=f"{plan.space.name}/{plan.config.task}", archs=plan.total,
            arch_seconds=sum(v["mean"] for v in per_arch.values()),
            compute_seconds=sum(v["total"] for v in per_arch.values()),
            computed_this_run=this.get("computed", 0), reused=this.get("reused", 0),
            finished_after=this.get("finished_after", 0.0), per_metric=per_arch,
        ))
    return StudyResult(pd.concat(scores, ignore_index=True), pd.concat(corrs, ignore_index=True),
                       pd.concat(summaries, ignore_index=True), timings)


def git_revision() -> str | None:
    """The source checkout's commit, when swapbench runs from one (None from an installed wheel)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def run_metadata(study: StudyConfig, plans: list[Plan], result: StudyResult, stats: dict[str, Any] | None,
                 command: str | None, options: RunOptions, kind: str = "study") -> dict[str, Any]:
    """run.json: enough to rerun the study exactly (`swapbench regress` reads `study` and `run`) and to say
    what every column was scored on."""
    seeds = options.seeds or study.seeds
    return dict(
        kind=kind,
        command=command,
        study=study.to_dict(),
        run=dict(limit_archs=options.limit_archs, seeds=list(seeds), protocol=options.protocol or study.protocol,
                 threads=(stats or {}).get("backend", {}).get("threads")),
        columns=[dict(
            column=t["column"], archs_per_seed=len(next(iter(p.samples.values()))), protocol=p.protocol.name,
            batch_size=p.batch_size, batch_policy=p.batch_policy, proxy_options=p.options,
            checkpointing=p.config.checkpointing,
            truth=dict(name=p.truth.name, source=p.truth.source, rows=len(p.truth), substitute=p.truth.substitute),
            input="substitute" if p.images is not None and p.images.substitute else "real",
            images=None if p.images is None else dict(name=p.images.name, source=p.images.source,
                                                      rows=len(p.images), substitute=p.images.substitute),
            cache_keys=p.keys, notices=p.notices,
            seconds_per_arch=round(t["arch_seconds"], 4), compute_seconds=round(t["compute_seconds"], 2),
            computed_this_run=t["computed_this_run"], reused=t["reused"],
            finished_after_seconds=round(t["finished_after"], 2),
            per_metric_seconds={k: round(v["mean"], 5) for k, v in t["per_metric"].items()},
        ) for p, t in zip(plans, result.timings, strict=True)],
        execution=None if stats is None else dict(wall_seconds=round(stats["wall_seconds"], 2), **stats["backend"]),
        versions=dict(swapbench=__version__, git=git_revision(), python=sys.version.split()[0],
                      torch=torch.__version__, numpy=np.__version__, pandas=pd.__version__),
        machine=dict(platform=platform.platform(), processor=platform.machine(), cpus=os.cpu_count(),
                     device=str(plans[0].device) if plans else None,
                     cuda=torch.cuda.get_device_name(0) if plans and plans[0].device.type == "cuda" else None),
    )
