"""`swapbench search`: SWAP-NAS's evolutionary search (Algorithm 1) with any registered metric as fitness.

Every fitness value goes through the score cache under the same key a `correlate` run of the same metric
and batch would use, so a killed search resumes by replaying the (deterministic) algorithm on cached scores,
and searches, baselines and correlation runs share scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch

from swapbench.data.benchmarks import TruthTable, load_truth
from swapbench.data.datadir import resolve_data_dir
from swapbench.data.images import load_images
from swapbench.device import resolve_device, set_deterministic
from swapbench.errors import SwapbenchError
from swapbench.proxies.registry import ProxySpec, get_proxy
from swapbench.search.evolution import Evaluation, EvolutionConfig, EvolutionResult, evolve, random_search
from swapbench.spaces import get_space
from swapbench.spaces.base import SearchSpace
from swapbench.study.cache import ScoreCache
from swapbench.study.config import CorrelateConfig
from swapbench.study.protocols import get_protocol
from swapbench.study.runner import Plan, derive_seed, resolve_keys, run_batch, score_arch

# truth tables that cover a whole space, preferred for reporting a found architecture's accuracy
FULL_TRUTH = {"nb201": "nb201-200ep-test"}
ALGORITHMS = ("evolution", "random")


@dataclass
class SearchConfig:
    space: str
    task: str
    metric: str = "reg_swap"
    mu: float | None = None  # reg_swap only; None: the space's default (paper Appendix B)
    sigma: float | None = None
    proxy_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    baseline: bool = False  # also random search with each seed's number of distinct evaluations
    batch_size: int | None = None
    protocol: str = "paper"  # a named preset (swapbench.study.protocols); the fields here override it
    batch_policy: str | None = None  # None: the protocol's
    repeats: int | None = None
    truth: str | None = None  # None: the space's full table if it has one, else NAS-Bench-Suite-Zero if present
    device: str = "auto"
    data_dir: str | None = None
    out: str = "runs/search"
    cache: str | None = None  # default: the shared default cache
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchPlan:
    config: SearchConfig
    space: SearchSpace
    spec: ProxySpec
    plan: Plan  # scoring context shared with the study runner (truth-less)
    key: str  # cache key of the fitness metric
    truth: TruthTable | None
    accuracy: dict[str, float]  # canonical key -> ground truth accuracy
    notices: list[str] = field(default_factory=list)

    def max_evaluations(self) -> int:
        per_seed = self.config.evolution.max_evaluations()
        return len(self.config.seeds) * per_seed * (2 if self.config.baseline else 1)


class SpaceOperators:
    """Adapts a SearchSpace to the algorithm's Operators protocol."""

    def __init__(self, space: SearchSpace):
        self.space = space

    def sample(self, rng: np.random.Generator) -> Hashable:
        return self.space.random_arch(rng)

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Hashable:
        return self.space.mutate(arch, rng)

    def crossover(self, a: Hashable, b: Hashable, rng: np.random.Generator) -> tuple[Hashable, Hashable]:
        return self.space.crossover(a, b, rng)

    def key(self, arch: Hashable) -> str:
        return self.space.canonical_key(arch)


class CachedFitness:
    """The metric's score of an architecture at one seed: read from the cache, else computed and committed
    at once. Counts what it computed and what it reused (a resumed search computes only what is missing)."""

    def __init__(self, splan: SearchPlan, cache: ScoreCache, seed: int):
        self.splan, self.cache, self.seed = splan, cache, seed
        plan = splan.plan
        self.batch = run_batch(plan, seed, "") if plan.batch_policy in ("fixed", "first") else None
        self.computed = self.reused = 0
        self.compute_seconds = 0.0
        self._seen: dict[str, float] = {}

    def __call__(self, arch: Hashable) -> float:
        space = self.splan.space
        key = space.canonical_key(arch)
        if key in self._seen:
            return self._seen[key]
        stored = self.cache.get(self.splan.key, self.seed, key)
        if stored is not None:
            self.reused += 1
            value = stored
        else:
            name = self.splan.spec.name
            value, seconds = score_arch(self.splan.plan, self.seed, arch, [self.splan.spec], self.batch)[name]
            self.cache.put(self.splan.key, self.seed, key, value, seconds)
            self.computed += 1
            self.compute_seconds += seconds
        self._seen[key] = value
        return value


@runtime_checkable
class Searchable(Protocol):
    """A space SWAP-NAS can search (Algorithm 1): it varies architectures. Optional: a space that lacks the
    operators is still scored and correlated."""

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Hashable:
        """A neighbour of `arch`: one operation or one connection changed (paper Fig. 13)."""
        ...

    def crossover(self, a: Hashable, b: Hashable, rng: np.random.Generator) -> tuple[Hashable, Hashable]:
        """Two children that swap one node's incoming edges between `a` and `b` (paper Fig. 14)."""
        ...


def _check_searchable(space: SearchSpace) -> None:
    if not isinstance(space, Searchable):
        from swapbench.spaces import SPACES

        ok = [s.name for s in SPACES if isinstance(s, Searchable)]
        raise SwapbenchError(f"space '{space.name}' has no mutation/crossover operators; searchable spaces: "
                             f"{', '.join(ok)}")


def _truth(space: SearchSpace, config: SearchConfig, data_dir: Any, notices: list[str]) -> TruthTable | None:
    name = config.truth or FULL_TRUTH.get(space.name)
    try:
        return load_truth(space, config.task, data_dir, name)
    except SwapbenchError as exc:
        if config.truth:  # asked for explicitly: a real error
            raise
        notices.append(f"no ground truth for the found architectures ({exc})")
        return None


def plan_search(config: SearchConfig) -> SearchPlan:
    """Validate every input and resolve the fitness metric's cache key before any work starts."""
    protocol = get_protocol(config.protocol)
    space = get_space(protocol.space_for(config.space))
    info = space.task(config.task)
    _check_searchable(space)
    config.evolution.check()
    if not config.seeds:
        raise SwapbenchError("no seeds given; pass e.g. --seeds 0-4")
    spec = get_proxy(config.metric)
    options = {k: dict(v) for k, v in config.proxy_options.items()}
    for name in options:
        if name != spec.name:
            raise SwapbenchError(f"option given for metric '{name}', but the fitness is '{spec.name}'")
    for name, value in (("mu", config.mu), ("sigma", config.sigma)):
        if value is None:
            continue
        if name not in spec.options:
            raise SwapbenchError(f"--{name} applies to reg_swap; the fitness is '{spec.name}'")
        options.setdefault(spec.name, {})[name] = float(value)
    batch_size, batch_policy = protocol.batch_for(info.default_batch_size, config.batch_size, config.batch_policy)
    device = resolve_device(config.device)
    data_dir = resolve_data_dir(config.data_dir)
    notices: list[str] = []
    images = load_images(info.dataset, data_dir) if spec.data == "batch" else None
    if images is not None and images.substitute:
        notices.append(f"inputs for {config.task} are a SUBSTITUTE image set ({images.source})")
    corr = CorrelateConfig(space=space.name, task=config.task, proxies=[spec.name], seeds=list(config.seeds),
                           protocol=protocol.name, batch_size=batch_size, batch_policy=batch_policy,
                           repeats=config.repeats,
                           proxy_options=options, truth=config.truth, device=config.device,
                           data_dir=config.data_dir, out=config.out, cache=config.cache, threads=config.threads)
    opts, keys, idents = resolve_keys(space, corr, [spec], batch_size, images, device)
    plan = Plan(corr, space, None, images, device, batch_size, [spec], opts, keys, idents, {},  # type: ignore[arg-type]
                protocol=protocol, batch_policy=batch_policy)
    truth = _truth(space, config, data_dir, notices)
    accuracy: dict[str, float] = {}
    if truth is not None:
        for arch, acc in zip(truth.archs, truth.accuracy, strict=True):
            accuracy.setdefault(space.canonical_key(arch), float(acc))
    return SearchPlan(config, space, spec, plan, keys[spec.name], truth, accuracy, notices)


@dataclass
class SearchRun:
    """The results of every seed: one row per (seed, algorithm), the per-evaluation trajectory, timings."""

    results: pd.DataFrame
    trajectory: pd.DataFrame
    stats: dict[str, Any]


Progress = Callable[[int, int], None]  # (evaluations done since the last call, change of the expected total)


def _params(space: SearchSpace, arch: Hashable, task: str) -> float:
    """Parameters (millions) of the modules a forward executes, as reg_swap counts them."""
    from swapbench.nn.counting import executed_params

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = space.build(arch, task)
    return executed_params(net, space.task(task).input_shape)


def _row(splan: SearchPlan, seed: int, algorithm: str, result: EvolutionResult, fit: CachedFitness,
         seconds: float) -> dict[str, Any]:
    space, task = splan.space, splan.config.task
    best = result.best
    described = space.describe(best.arch)
    label = next((v for k, v in described.items() if k != "key"), best.key)
    params_m = _params(space, best.arch, task)
    row = dict(seed=seed, algorithm=algorithm, metric=splan.spec.name, arch=best.key, arch_str=str(label),
               score=best.score, params_m=params_m, size=params_m * 1e6 / space.size_unit,
               size_unit="thousands" if space.size_unit == 1e3 else "millions", evaluations=result.evaluations,
               unique=result.unique, computed=fit.computed, reused=fit.reused, seconds=seconds,
               accuracy=splan.accuracy.get(best.key, np.nan))
    members = [splan.accuracy.get(m.key, np.nan) for m in result.population]
    # random search: the mean accuracy of its sample is the expected accuracy of one uniformly random arch;
    # evolution: the mean accuracy of the final population
    row["sample_mean_accuracy"] = float(np.nanmean(members)) if any(a == a for a in members) else np.nan
    return row


def _steps(splan: SearchPlan, seed: int, algorithm: str, result: EvolutionResult) -> list[dict[str, Any]]:
    """Trajectory rows; best_accuracy is the ground truth of the best-scored architecture so far."""
    return [dict(seed=seed, algorithm=algorithm, **asdict(e), best_accuracy=splan.accuracy.get(e.best_key, np.nan))
            for e in result.history]


def run_search(splan: SearchPlan, cache: ScoreCache, progress: Progress | None = None) -> SearchRun:
    """Run the search (and its random baseline) for every seed; returns the tables to write."""
    config = splan.config
    set_deterministic()
    if config.threads:
        torch.set_num_threads(config.threads)
    for spec in splan.plan.proxies:
        cache.register(splan.plan.keys[spec.name], splan.plan.key_idents[spec.name])
    ops = SpaceOperators(splan.space)
    bound = config.evolution.max_evaluations()
    rows, steps = [], []
    start_all = time.perf_counter()
    for seed in config.seeds:
        fit = CachedFitness(splan, cache, seed)
        trace: list[Evaluation] = []

        def on_eval(event: Evaluation, trace: list[Evaluation] = trace) -> None:
            trace.append(event)
            if progress:
                progress(1, 0)

        start = time.perf_counter()
        rng = np.random.default_rng(derive_seed("search", splan.space.name, seed))
        result = evolve(ops, fit, config.evolution, rng, on_eval)
        if progress:
            progress(0, result.evaluations - bound)
        rows.append(_row(splan, seed, "evolution", result, fit, time.perf_counter() - start))
        steps += _steps(splan, seed, "evolution", result)
        if config.baseline:
            fit = CachedFitness(splan, cache, seed)
            start = time.perf_counter()
            rng = np.random.default_rng(derive_seed("random-search", splan.space.name, seed))
            base = random_search(ops, fit, result.unique, rng,
                                 (lambda e: progress(1, 0)) if progress else None)
            if progress:
                progress(0, base.evaluations - bound)
            rows.append(_row(splan, seed, "random", base, fit, time.perf_counter() - start))
            steps += _steps(splan, seed, "random", base)
    results = pd.DataFrame(rows)
    trajectory = pd.DataFrame(steps)
    computed = int(results["computed"].sum()) if len(results) else 0
    wall = time.perf_counter() - start_all
    stats = dict(wall_seconds=wall, computed=computed, reused=int(results["reused"].sum()) if len(results) else 0,
                 evaluations_per_second=float(results["evaluations"].sum() / wall) if wall > 0 else np.nan)
    return SearchRun(results, trajectory, stats)


def summarise_search(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per algorithm: accuracy of the found architecture, score, size, evaluations
    and seconds (the acceptance table of `swapbench search`)."""
    out = []
    for algorithm, group in results.groupby("algorithm", sort=False):
        row: dict[str, Any] = dict(algorithm=algorithm, searches=len(group))
        for col in ("accuracy", "size", "unique", "seconds"):
            row[f"{col}_mean"] = float(group[col].mean())
            row[f"{col}_std"] = float(group[col].std(ddof=0))
        if algorithm == "random":
            row["sample_mean_accuracy"] = float(group["sample_mean_accuracy"].mean())
        out.append(row)
    return pd.DataFrame(out)
