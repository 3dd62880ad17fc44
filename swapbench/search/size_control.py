"""Model-size control (paper Sec. 4.3, Fig. 5; App. A, Figs. 7-8): run SWAP-NAS with reg_swap at mu = sigma over
a grid and relate the size of each found architecture to mu, next to the size distribution of random models.

Sizes are in the space's Θ unit (`SearchSpace.size_unit`): thousands of parameters on the official one-cell
DARTS network (`darts-swap`, the paper's Fig. 5), millions elsewhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from swapbench.errors import SwapbenchError
from swapbench.search.evolution import EvolutionConfig
from swapbench.search.run import Progress, SearchConfig, plan_search, run_search
from swapbench.spaces import get_space
from swapbench.spaces.base import SearchSpace
from swapbench.study.cache import ScoreCache
from swapbench.study.runner import derive_seed

# the paper's grid on the one-cell DARTS network (0.5 to 2.5 in steps of 0.4); NB201 spans 0.07-1.53 M
DEFAULT_MUS = {"darts-swap": [0.5, 0.9, 1.3, 1.7, 2.1, 2.5], "nb201": [0.2, 0.5, 0.8, 1.1, 1.4]}


@dataclass
class SizeControlConfig:
    space: str = "darts-swap"
    task: str = "cifar10"
    mus: list[float] = field(default_factory=list)  # empty: DEFAULT_MUS of the space
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])  # searches per mu
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    form: str = "paper"
    n_random: int = 1000  # random models for the size histogram (paper Fig. 5a)
    batch_size: int | None = None
    repeats: int | None = None
    device: str = "auto"
    data_dir: str | None = None
    out: str = "runs/ablation-size-control"
    cache: str | None = None
    threads: int | None = None

    def grid(self) -> list[float]:
        mus = self.mus or DEFAULT_MUS.get(self.space, [])
        if not mus:
            raise SwapbenchError(f"no default mu grid for space '{self.space}'; pass --mus")
        if any(m <= 0 for m in mus):
            raise SwapbenchError("--mus must be positive (mu = sigma, and sigma must be > 0)")
        return [float(m) for m in mus]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def random_sizes(space: SearchSpace, task: str, n: int, seed: int) -> np.ndarray:
    """Θ of `n` uniformly random architectures, counted shape-only on the meta device (no arithmetic)."""
    from swapbench.spaces.counts import executed_params

    rng = np.random.default_rng(derive_seed("size-histogram", space.name, seed))
    shape = space.task(task).input_shape
    out = []
    for _ in range(n):
        with torch.device("meta"):
            net = space.build(space.random_arch(rng), task)
        out.append(executed_params(net, shape) * 1e6 / space.size_unit)
    return np.asarray(out)


def size_control(config: SizeControlConfig, cache: ScoreCache, progress: Progress | None = None
                 ) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    """Every (mu, seed) search: rows mu, seed, arch, score, size, accuracy; the random sizes; a summary."""
    space = get_space(config.space)
    mus = config.grid()
    plans = []
    for mu in mus:  # validate everything before the first search
        search = SearchConfig(space=config.space, task=config.task, metric="reg_swap", mu=mu, sigma=mu,
                              proxy_options={"reg_swap": {"form": config.form}}, seeds=list(config.seeds),
                              evolution=replace(config.evolution), baseline=False, batch_size=config.batch_size,
                              repeats=config.repeats, device=config.device, data_dir=config.data_dir,
                              out=config.out, cache=config.cache, threads=config.threads)
        plans.append((mu, plan_search(search)))
    rows = []
    for mu, splan in plans:
        run = run_search(splan, cache, progress)
        for _, r in run.results.iterrows():
            rows.append(dict(mu=mu, sigma=mu, seed=int(r["seed"]), arch=r["arch"], arch_str=r["arch_str"],
                             score=r["score"], size=r["params_m"] * 1e6 / space.size_unit,
                             accuracy=r["accuracy"], unique=r["unique"], computed=r["computed"],
                             seconds=r["seconds"]))
    found = pd.DataFrame(rows)
    sizes = random_sizes(space, config.task, config.n_random, 0) if config.n_random else np.array([])
    rho = stats.spearmanr(found["mu"], found["size"]).statistic if found["size"].nunique() > 1 else float("nan")
    per_mu = found.groupby("mu")["size"].agg(["mean", "std", "min", "max"]).reset_index()
    summary = dict(spearman_mu_size=float(rho), unit="thousands" if space.size_unit == 1e3 else "millions",
                   random=dict(n=int(len(sizes)), min=float(sizes.min()) if len(sizes) else None,
                               median=float(np.median(sizes)) if len(sizes) else None,
                               max=float(sizes.max()) if len(sizes) else None),
                   per_mu=per_mu.to_dict(orient="records"), searches=len(found),
                   seconds=float(found["seconds"].sum()), computed=int(found["computed"].sum()))
    return found, sizes, summary
