"""A study: several (space, task) columns x metrics x seeds, scored through one cache and one backend.

The config is a TOML file (configs/fig4.toml is the paper's Fig. 4 grid). A study is a list of
`correlate` runs that share their cache, so scores computed by a study and by `correlate` are the
same rows, and a smaller `--limit-archs` run is a prefix of the full one.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from swapbench.errors import SwapbenchError
from swapbench.study.config import CorrelateConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_STUDY_KEYS = {"name", "description", "proxies", "seeds", "n_archs", "protocol", "batch_policy", "repeats", "options",
               "device", "reference", "out", "cache", "columns"}
_COLUMN_KEYS = {"space", "task", "truth", "batch_size", "options", "n_archs"}


@dataclass
class Column:
    space: str
    task: str
    truth: str | None = None
    batch_size: int | None = None
    n_archs: int | None = None  # overrides the study's n_archs for this column
    options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.space}/{self.task}"


@dataclass
class StudyConfig:
    name: str
    columns: list[Column]
    proxies: list[str] = field(default_factory=lambda: ["swap", "reg_swap"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    n_archs: int = 1000
    protocol: str = "paper"
    batch_policy: str | None = None  # None: the protocol's
    repeats: int | None = None
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: str = "auto"
    reference: str | None = None
    out: str | None = None
    cache: str | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "study config") -> StudyConfig:
        from swapbench.proxies import list_proxies

        unknown = set(data) - _STUDY_KEYS
        if unknown:
            raise SwapbenchError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; "
                                 f"allowed: {', '.join(sorted(_STUDY_KEYS))}")
        if "name" not in data or not data.get("columns"):
            raise SwapbenchError(f"{source}: needs a `name` and at least one [[columns]] table")
        columns = []
        for i, col in enumerate(data["columns"]):
            if not isinstance(col, dict) or "space" not in col or "task" not in col:
                raise SwapbenchError(f"{source}: column {i + 1} needs `space` and `task`")
            bad = set(col) - _COLUMN_KEYS
            if bad:
                raise SwapbenchError(f"{source}: column {i + 1} has unknown key(s) {', '.join(sorted(bad))}")
            columns.append(Column(**col))
        proxies = data.get("proxies", ["swap", "reg_swap"])
        if proxies == "all":
            proxies = list_proxies()
        if isinstance(proxies, str) or not all(isinstance(p, str) for p in proxies):
            raise SwapbenchError(f"{source}: `proxies` must be a list of metric names or \"all\"")
        for name in proxies:
            if name not in list_proxies():
                raise SwapbenchError(f"{source}: unknown proxy '{name}'; choose from {', '.join(list_proxies())}")
        seeds = data.get("seeds", [0, 1, 2, 3, 4])
        if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
            raise SwapbenchError(f"{source}: `seeds` must be a non-empty list of integers")
        kwargs = {k: v for k, v in data.items() if k not in ("columns", "proxies", "seeds")}
        return cls(columns=columns, proxies=list(proxies), seeds=list(seeds), **kwargs)


def load_study(path: str | Path) -> StudyConfig:
    path = Path(path)
    if not path.is_file():
        raise SwapbenchError(f"study config {path} not found")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SwapbenchError(f"{path} is not valid TOML: {exc}") from None
    return StudyConfig.from_dict(data, str(path))


def select_columns(study: StudyConfig, wanted: str | None) -> StudyConfig:
    """Keep the columns named in `wanted` ("nb201/cifar10,nb101/cifar10"), in the config's order."""
    if not wanted:
        return study
    labels = [w.strip() for w in wanted.split(",") if w.strip()]
    known = [c.label for c in study.columns]
    for label in labels:
        if label not in known:
            raise SwapbenchError(f"column '{label}' is not in study '{study.name}'; its columns: {', '.join(known)}")
    return replace(study, columns=[c for c in study.columns if c.label in labels])


def select_proxies(study: StudyConfig, wanted: str | None) -> StudyConfig:
    """Keep the metrics named in `wanted` ("swap,reg_swap"), in the config's order: a cheaper pass over the
    same columns whose scores the full study reuses."""
    if not wanted:
        return study
    names = [w.strip() for w in wanted.split(",") if w.strip()]
    for name in names:
        if name not in study.proxies:
            raise SwapbenchError(f"metric '{name}' is not in study '{study.name}'; its metrics: "
                                 f"{', '.join(study.proxies)}")
    return replace(study, proxies=[p for p in study.proxies if p in names])


def column_configs(study: StudyConfig, *, limit_archs: int | None = None, seeds: list[int] | None = None,
                   data_dir: str | None = None, threads: int | None = None, device: str | None = None,
                   cache: str | None = None, out: str = "runs/study",
                   protocol: str | None = None) -> list[CorrelateConfig]:
    """One correlate config per column. `limit_archs` keeps the first N of each seed's full sample, so the
    quick run's scores are reused by the full one. `protocol` overrides the config's."""
    if limit_archs is not None and limit_archs < 3:
        raise SwapbenchError("--limit-archs must be at least 3 to compute a rank correlation")
    configs = []
    for col in study.columns:
        options = {k: dict(v) for k, v in study.options.items() if k in study.proxies}
        for proxy, opts in col.options.items():
            options.setdefault(proxy, {}).update(opts)
        configs.append(CorrelateConfig(
            space=col.space, task=col.task, proxies=list(study.proxies), n_archs=col.n_archs or study.n_archs,
            limit_archs=limit_archs, seeds=list(seeds or study.seeds), batch_size=col.batch_size,
            protocol=protocol or study.protocol, batch_policy=study.batch_policy, repeats=study.repeats,
            proxy_options=options, truth=col.truth,
            device=device or study.device, data_dir=data_dir, out=out, cache=cache or study.cache,
            threads=threads,
        ))
    return configs


# --------------------------------------------------------------------------------------------
# running a study


@dataclass
class StudyResult:
    scores: Any  # pd.DataFrame: seed, arch, proxy, score, accuracy, space, task
    correlations: Any  # one row per (column, proxy, seed)
    summary: Any  # one row per (column, proxy), with the `input` (real / substitute) of the column
    timings: list[dict[str, Any]]  # per column


def plan_study(configs: list[CorrelateConfig]) -> list:
    """Plan every column before scoring any, so a bad column fails the study at once."""
    from swapbench.study.runner import plan_run

    return [plan_run(c) for c in configs]


def study_results(plans: list, cache: Any, stats: dict[str, Any] | None = None) -> StudyResult:
    import pandas as pd

    from swapbench.study.runner import results_frames, stored_seconds

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
            computed_this_run=this.get("computed", 0), finished_after=this.get("finished_after", 0.0),
            per_metric=per_arch,
        ))
    return StudyResult(pd.concat(scores, ignore_index=True), pd.concat(corrs, ignore_index=True),
                       pd.concat(summaries, ignore_index=True), timings)


def study_metadata(study: StudyConfig, plans: list, result: StudyResult, stats: dict[str, Any] | None,
                   command: str, limit_archs: int | None, seeds: list[int] | None) -> dict[str, Any]:
    """run.json of a study: enough to rerun it exactly (`swapbench regress` reads `study` and `run`)."""
    import platform
    import sys

    import numpy as np
    import pandas as pd
    import torch

    from swapbench import __version__

    return dict(
        command=command,
        study=study.to_dict(),
        run=dict(limit_archs=limit_archs, seeds=seeds or study.seeds,
                 threads=(stats or {}).get("backend", {}).get("threads")),
        columns=[dict(
            column=t["column"], archs_per_seed=len(next(iter(p.samples.values()))), protocol=p.protocol.name,
            batch_size=p.batch_size, batch_policy=p.batch_policy, proxy_options=p.options,
            truth=dict(name=p.truth.name, rows=len(p.truth), substitute=p.truth.substitute),
            input="substitute" if p.images is not None and p.images.substitute else "real",
            images=None if p.images is None else p.images.source, cache_keys=p.keys, notices=p.notices,
            seconds_per_arch=round(t["arch_seconds"], 4), compute_seconds=round(t["compute_seconds"], 2),
            computed_this_run=t["computed_this_run"], finished_after_seconds=round(t["finished_after"], 2),
            per_metric_seconds={k: round(v["mean"], 5) for k, v in t["per_metric"].items()},
        ) for p, t in zip(plans, result.timings, strict=True)],
        execution=None if stats is None else dict(wall_seconds=round(stats["wall_seconds"], 2), **stats["backend"]),
        versions=dict(swapbench=__version__, python=sys.version.split()[0], torch=torch.__version__,
                      numpy=np.__version__, pandas=pd.__version__),
        machine=dict(platform=platform.platform(), processor=platform.machine(),
                     cpus=__import__("os").cpu_count(), device=str(plans[0].device) if plans else None,
                     cuda=torch.cuda.get_device_name(0) if plans and plans[0].device.type == "cuda" else None),
    )
