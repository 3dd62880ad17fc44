"""The SWAP-NAS paper's ablations (Peng et al., ICLR 2024).

Input size (Table 3): standard activation patterns |A| (the `std_patterns` metric, Definition 3.1: the
distinct per-sample binary codes over every post-ReLU unit, so |A| <= batch size) against SWAP (distinct
per-unit patterns over the batch) and regularised SWAP, on inputs of several sizes. |A| and SWAP are
counted in ONE forward of the same Gaussian-initialised network on the same batch, as the paper's Fig. 3
describes them ("the same network with the same input").

Inputs of size s are made from the task's fixed batch (the one `correlate` uses for the seed) by
- ``crop`` (default): a random s x s crop of each image, which is how the official SWAP code produces
  other input sizes (``get_datasets(..., input_size)``: ``RandomCrop(input_size, padding=0)``);
- ``bilinear``: antialiased bilinear resizing of the whole normalised image.
A size the network rejects (NB201's reduction blocks add a stride-2 conv to a 2x2 average pool, which
disagree on odd sizes >= 5) is replaced by the smallest larger size it accepts; the table reports both.
(NB201 does run 3x3 inputs, but only because the reduction block's 1x1 shortcut output broadcasts
against its 2x2 conv path.)

Regulariser (Appendix B, Tables 4-6): Spearman of Psi * f(Theta) for a grid of (mu, sigma) on disjoint
groups of architectures. Psi does not depend on (mu, sigma): Psi (`swap`) and Theta (`params`, the same
executed-parameter count `reg_swap` uses) are scored once per architecture through the correlation
runner and its cache, and the grid is applied afterwards.

Both ablations are studies on the one run engine: the input-size ablation scores the metric variants
`std_patterns@SxS` and `swap@SxS` (one shared forward per size) and `params`; the regulariser ablation scores
`swap` and `params` on its disjoint groups. So they get workers, resume and the shared cache; their tables
and figures are rendered in swapbench.report.ablation.
"""

from __future__ import annotations

import copy
import csv
import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from swapbench.errors import SwapbenchError
from swapbench.nn.patterns import distinct_rows
from swapbench.proxies.priors import reg_swap_prior
from swapbench.proxies.swap import count_patterns, regulariser
from swapbench.study.config import Column, CorrelateConfig, StudyConfig
from swapbench.study.engine import Display, RunOptions, StudyResult, run_study
from swapbench.study.runner import RESIZE_MODES, Plan, plan_run, resize_batch, run_batch
from swapbench.study.stats import rank_correlations

# full-space ground truth, so that 1000 architectures can be sampled (NAS-Bench-Suite-Zero holds 725)
FULL_SPACE_TRUTH = {"nb201": "nb201-200ep-test"}
FORMS = ("paper", "code")

STD, SWAP, REG = "std_patterns", "swap", "reg_swap"
METRIC_LABELS = {STD: "|A|", SWAP: "SWAP", REG: "reg-SWAP"}
NO_REG, EQUAL, FIX_MU, FIX_SIGMA, GRID = (
    "no regularisation", "mu = sigma", "varying sigma, fixed mu", "varying mu, fixed sigma", "grid")


def _paper_rows(name: str) -> list[dict[str, str]]:
    """A table the paper publishes, as shipped with the package (swapbench/study/paper/)."""
    text = resources.files("swapbench.study").joinpath("paper", name).read_text()
    return list(csv.DictReader(text.splitlines()))


def paper_table3() -> dict[tuple[str, int], tuple[float, float, float]]:
    """Table 3: (metric, input size) -> (mean, std, Spearman); 1000 architectures, batch 32, CIFAR-10."""
    return {(r["metric"], int(r["input_size"])): (float(r["mean"]), float(r["std"]), float(r["spearman"]))
            for r in _paper_rows("table3_input_size.csv")}


def paper_reg_tables() -> dict[str, tuple[str, list[tuple[str, float | None, float | None, tuple[float, ...]]]]]:
    """Appendix B, Tables 4-6: space -> (table name, [(block, mu, sigma, Spearman of groups 1-5)])."""
    out: dict[str, tuple[str, list]] = {}
    for r in _paper_rows("tables4-6_regulariser.csv"):
        row = (r["block"], float(r["mu"]) if r["mu"] else None, float(r["sigma"]) if r["sigma"] else None,
               tuple(float(r[f"g{k}"]) for k in range(1, 6)))
        out.setdefault(r["space"], (r["table"], []))[1].append(row)
    return out


# ---------------------------------------------------------------------------------------------
# counting


def pattern_counts(net: nn.Module, inputs: torch.Tensor) -> tuple[int, int]:
    """(|A|, Psi) from one no-grad forward, as `std_patterns` and `swap` count them (one repeat, no
    re-initialisation): the distinct per-sample codes (rows) and per-unit patterns (columns)."""
    codes: list[torch.Tensor] = []
    psi = count_patterns(net, inputs, sample_codes=codes)
    return (distinct_rows(torch.cat(codes, dim=1)) if codes else 0), psi


def accepted_size(net: nn.Module, x: torch.Tensor, size: int, mode: str, limit: int = 64) -> int:
    """The smallest size >= `size` whose inputs the network processes (a copy of it, no gradient)."""
    probe = copy.deepcopy(net).cpu().train()
    gen = torch.Generator().manual_seed(0)
    top = min(x.shape[-2:]) if mode == "crop" else max(size, limit)
    for s in range(size, top + 1):
        batch = resize_batch(x[:2].cpu(), s, mode, gen)
        try:
            with torch.no_grad():
                probe(batch)
            return s
        except RuntimeError:
            continue
    raise SwapbenchError(f"--sizes: the network accepts no input size between {size} and the image size")


def _variant(metric: str, size: int, native: int) -> str:
    """The metric on size x size inputs; at the images' own size that is the metric itself (shared cache)."""
    return metric if size == native else f"{metric}@{size}x{size}"


# ---------------------------------------------------------------------------------------------
# input-size ablation (Table 3)


@dataclass
class InputSizeConfig:
    """`swapbench ablation input-size` options."""

    space: str = "nb201"
    task: str = "cifar10"
    n_archs: int = 1000
    seed: int = 0
    sizes: list[int] = field(default_factory=lambda: [3, 15, 32])
    batch_size: int = 32
    resize: str = "crop"
    repeats: int = 1
    mu: float | None = None  # None: the space's default (paper Appendix B)
    sigma: float | None = None
    form: str = "paper"
    truth: str | None = None  # None: the full-space table where the space has one, else nbsz
    device: str = "auto"
    data_dir: str | None = None
    cache: str | None = None  # None: the shared default cache

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class InputSizePlan:
    config: InputSizeConfig
    study: StudyConfig  # the study that scores it: params and, per size, std_patterns and swap variants
    plan: Plan
    effective: dict[int, int]  # requested size -> size fed to the network
    native: int
    mu: float
    sigma: float

    def label(self, metric: str, requested: int) -> str:
        return _variant(metric, self.effective[requested], self.native)

    def info(self) -> dict[str, Any]:
        return dict(kind="input-size", config=self.config.to_dict(), effective_sizes=self.effective,
                    native=self.native, mu=self.mu, sigma=self.sigma)


def plan_input_size(config: InputSizeConfig) -> InputSizePlan:
    """Validate everything and resolve the sizes the network accepts before any scoring."""
    if not config.sizes:
        raise SwapbenchError("--sizes is empty; pass e.g. --sizes 3,15,32")
    if any(s < 1 for s in config.sizes):
        raise SwapbenchError(f"--sizes must be positive integers (got {','.join(map(str, config.sizes))})")
    if len(set(config.sizes)) != len(config.sizes):
        raise SwapbenchError("--sizes has a repeated size")
    if config.batch_size < 2:
        raise SwapbenchError("--batch-size must be at least 2 to count patterns across samples")
    if config.resize not in RESIZE_MODES:
        raise SwapbenchError(f"unknown --resize '{config.resize}'; use {' or '.join(RESIZE_MODES)}")
    if config.form not in FORMS:
        raise SwapbenchError(f"unknown --form '{config.form}'; use {' or '.join(FORMS)}")
    if config.repeats < 1:
        raise SwapbenchError("--repeats must be >= 1")
    from swapbench.spaces import get_space

    space = get_space(config.space)
    truth = config.truth or FULL_SPACE_TRUTH.get(space.name)
    probe = plan_run(CorrelateConfig(
        space=config.space, task=config.task, proxies=[SWAP, "params"], n_archs=config.n_archs, seeds=[config.seed],
        batch_size=config.batch_size, batch_policy="fixed", truth=truth, device=config.device,
        data_dir=config.data_dir, resize=config.resize))
    info = probe.space.task(config.task)
    if len(info.input_shape) != 3:
        raise SwapbenchError(f"the input-size ablation needs image inputs; {space.name}/{config.task} has "
                             f"input shape {info.input_shape}")
    native = min(info.input_shape[1:])
    if config.resize == "crop" and max(config.sizes) > native:
        raise SwapbenchError(f"--sizes: {max(config.sizes)} exceeds the {native}x{native} images; "
                             "crops cannot be larger (use --resize bilinear)")
    default = reg_swap_prior(probe.space, config.task)
    mu = config.mu if config.mu is not None else default
    sigma = config.sigma if config.sigma is not None else default
    if mu is None or sigma is None:
        raise SwapbenchError(f"space {space.name} has no default mu/sigma; pass --mu and --sigma")
    if sigma <= 0:
        raise SwapbenchError("--sigma must be > 0")
    # the network skeleton (stem, reduction blocks) is the same for every architecture of a space
    first = probe.samples[config.seed][0]
    probe_net = probe.space.build(probe.truth.archs[first], config.task)
    x, _ = run_batch(probe, config.seed, "")
    effective = {s: accepted_size(probe_net, x, s, config.resize, limit=max(native, s)) for s in config.sizes}
    if len(set(effective.values())) != len(effective):
        raise SwapbenchError(f"--sizes map to the same accepted input size ({effective}); drop one")
    metrics = ["params"] + [_variant(m, e, native) for e in effective.values() for m in (STD, SWAP)]
    study = StudyConfig(
        name=f"ablation-input-size-{space.name}-{config.task}",
        columns=[Column(space=config.space, task=config.task, truth=truth, batch_size=config.batch_size)],
        proxies=metrics, seeds=[config.seed], n_archs=config.n_archs, batch_policy="fixed",
        options={SWAP: {"repeats": config.repeats}, STD: {"repeats": config.repeats}}, device=config.device,
        cache=config.cache, resize=config.resize,
        description="SWAP-NAS Table 3: |A|, SWAP and reg-SWAP at several input sizes")
    plan = plan_run(CorrelateConfig(
        space=config.space, task=config.task, proxies=metrics, n_archs=config.n_archs, seeds=[config.seed],
        batch_size=config.batch_size, batch_policy="fixed", proxy_options=study.options, truth=truth,
        device=config.device, data_dir=config.data_dir, resize=config.resize))
    for req, eff in effective.items():
        if req != eff:
            plan.notices.append(f"the {space.name} network rejects {req}x{req} inputs; {eff}x{eff} is used instead")
    return InputSizePlan(config, study, plan, effective, native, float(mu), float(sigma))


def run_input_size(iplan: InputSizePlan, options: RunOptions, display: Display | None = None,
                   command: str | None = None) -> StudyResult:
    """Score the ablation's study on the engine; `result.meta["ablation"]` says how to read it."""
    options.cache = options.cache or iplan.config.cache
    options.data_dir = options.data_dir or iplan.config.data_dir
    result = run_study(iplan.study, options, display, command, kind="ablation-input-size", plans=[iplan.plan])
    result.meta["ablation"] = iplan.info()
    return result


def input_size_scores(scores: pd.DataFrame, info: dict[str, Any]) -> pd.DataFrame:
    """From a run's long scores: one row per (architecture, input size, metric); reg_swap = Psi * f(Theta)."""
    native, form = int(info["native"]), info["config"]["form"]
    wide = scores.pivot_table(index=["seed", "arch"], columns="proxy", values="score", sort=False)
    acc = scores.drop_duplicates(["seed", "arch"]).set_index(["seed", "arch"])["accuracy"]
    rows = []
    for (seed, arch), r in wide.iterrows():
        theta = float(r["params"])
        for req, eff in info["effective_sizes"].items():
            req, eff = int(req), int(eff)
            psi = float(r[_variant(SWAP, eff, native)])
            values = {STD: float(r[_variant(STD, eff, native)]), SWAP: psi,
                      REG: psi * regulariser(theta, float(info["mu"]), float(info["sigma"]), form)}
            for metric, value in values.items():
                rows.append(dict(seed=seed, arch=arch, input_size=req, effective_size=eff, metric=metric,
                                 score=value, params_m=theta, accuracy=float(acc[(seed, arch)])))
    return pd.DataFrame(rows)


def input_size_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Table 3: mean and std (ddof=0) over architectures, rank correlations, the paper's values."""
    paper_values = paper_table3()
    rows = []
    for metric in (STD, SWAP, REG):
        for req in sorted(scores["input_size"].unique()):
            g = scores[(scores["metric"] == metric) & (scores["input_size"] == req)]
            rho, tau = rank_correlations(g["score"].to_numpy(), g["accuracy"].to_numpy())
            paper = paper_values.get((metric, int(req)), (np.nan, np.nan, np.nan))
            rows.append(dict(metric=metric, input_size=int(req), effective_size=int(g["effective_size"].iloc[0]),
                             n=len(g), mean=g["score"].mean(), std=g["score"].std(ddof=0),
                             min=g["score"].min(), max=g["score"].max(), spearman=rho, kendall=tau,
                             paper_mean=paper[0], paper_std=paper[1], paper_spearman=paper[2]))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# regulariser ablation (Appendix B, Tables 4-6)


@dataclass
class RegularisationConfig:
    """`swapbench ablation regularisation` options."""

    space: str
    task: str = "cifar10"
    groups: int = 5
    group_size: int | None = None  # None: min(1000, available // groups)
    seed: int = 0
    batch_size: int | None = None  # None: the task's default (64; 32 for TNB101)
    repeats: int | None = None
    mus: list[float] = field(default_factory=list)  # with sigmas: their cartesian product; empty: paper rows
    sigmas: list[float] = field(default_factory=list)
    forms: list[str] = field(default_factory=lambda: list(FORMS))
    truth: str | None = None  # None: the full-space table where the space has one, else nbsz
    device: str = "auto"
    data_dir: str | None = None
    cache: str | None = None  # None: the shared default cache

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GridRow:
    block: str
    mu: float | None  # None with sigma None: no regularisation
    sigma: float | None
    paper: tuple[float, ...] | None = None  # the paper's Spearman per group


@dataclass
class RegularisationPlan:
    config: RegularisationConfig
    plan: Plan  # samples: group seed -> the group's truth rows
    group_size: int
    available: int
    grid: list[GridRow]
    paper_table: str | None
    study: StudyConfig  # what run.json records of it

    @property
    def total(self) -> int:
        return self.plan.total

    def group_seeds(self) -> list[int]:
        return list(self.plan.samples)

    def info(self) -> dict[str, Any]:
        return dict(kind="regularisation", config=self.config.to_dict(), group_size=self.group_size,
                    available=self.available, group_seeds=self.group_seeds(), paper_table=self.paper_table,
                    truth=self.plan.truth.name, batch_size=self.plan.batch_size,
                    repeats=self.plan.options[SWAP]["repeats"],
                    grid=[[g.block, g.mu, g.sigma, None if g.paper is None else list(g.paper)] for g in self.grid])


def disjoint_groups(population: int, groups: int, size: int, seed: int) -> list[list[int]]:
    """`groups` disjoint groups of `size` rows drawn at random (without replacement) from `population`;
    the same arguments always give the same groups. Rows are dealt to the groups in turn from one random
    permutation, so a smaller `size` gives a prefix of each larger group (cached scores are reused)."""
    if groups < 1 or size < 1:
        raise SwapbenchError("need at least one group of at least one architecture")
    if groups * size > population:
        raise SwapbenchError(f"{groups} groups of {size} need {groups * size} architectures; only {population}")
    order = np.random.default_rng(seed).permutation(population)[: groups * size]
    return [[int(i) for i in order[k::groups]] for k in range(groups)]


def default_grid(space: str, default: float | None) -> tuple[list[GridRow], str | None]:
    """The paper's rows for NB101/201/301; elsewhere mu = sigma at fractions and multiples of the default."""
    tables = paper_reg_tables()
    if space in tables:
        name, rows = tables[space]
        return [GridRow(b, None if m is None else float(m), None if s is None else float(s), p)
                for b, m, s, p in rows], name
    if default is None:
        raise SwapbenchError(f"space {space} has no paper table and no default mu/sigma; pass --mus and --sigmas")
    rows = [GridRow(NO_REG, None, None)]
    rows += [GridRow(EQUAL, default * f, default * f) for f in (0.1, 0.25, 0.5, 1.0, 2.0)]
    return rows, None


def plan_regularisation(config: RegularisationConfig) -> RegularisationPlan:
    """Validate, load the truth table, draw the disjoint groups and resolve the grid before any scoring."""
    if config.groups < 1:
        raise SwapbenchError("--groups must be >= 1")
    if config.group_size is not None and config.group_size < 3:
        raise SwapbenchError("--group-size must be at least 3 to compute a rank correlation")
    if not config.forms or any(f not in FORMS for f in config.forms):
        raise SwapbenchError(f"--forms must be a list of {' and '.join(FORMS)}")
    if bool(config.mus) != bool(config.sigmas):
        raise SwapbenchError("pass both --mus and --sigmas (their cartesian product is the grid), or neither")
    if any(s <= 0 for s in config.sigmas):
        raise SwapbenchError("--sigmas must be > 0")
    from swapbench.spaces import get_space

    space = get_space(config.space)
    truth = config.truth or FULL_SPACE_TRUTH.get(space.name)
    corr = CorrelateConfig(
        space=config.space, task=config.task, proxies=[SWAP, "params"], n_archs=max(3, config.group_size or 3),
        seeds=[config.seed], batch_size=config.batch_size, repeats=config.repeats, truth=truth,
        device=config.device, data_dir=config.data_dir)
    plan = plan_run(corr)
    available = len(plan.truth)
    size = config.group_size or min(1000, available // config.groups)
    if size < 3:
        raise SwapbenchError(f"{available} architectures give groups of {size}; need at least 3 per group")
    groups = disjoint_groups(available, config.groups, size, config.seed)
    # group k (1-based) is scored with seed `seed + k - 1`: its own batch and initialisations, like the
    # paper's per-group seeds, and the same (seed, arch) scores a `correlate --seeds` run caches
    plan.samples = {config.seed + k: rows for k, rows in enumerate(groups)}
    plan.config.n_archs = size
    plan.config.seeds = list(plan.samples)
    plan.notices = [n for n in plan.notices if "capped" not in n]
    if config.mus:
        grid = [GridRow(NO_REG, None, None)]
        grid += [GridRow(GRID, float(m), float(s)) for m, s in itertools.product(config.mus, config.sigmas)]
        paper_table = None
    else:
        grid, paper_table = default_grid(space.name, reg_swap_prior(space, config.task))
    if size < 1000:
        plan.notices.append(f"groups of {size} architectures ({config.groups} x {size} of the {available} in "
                            f"truth table '{plan.truth.name}'); the paper uses groups of 1000")
    study = StudyConfig(
        name=f"ablation-regularisation-{space.name}-{config.task}",
        columns=[Column(space=config.space, task=config.task, truth=truth, batch_size=config.batch_size)],
        proxies=[SWAP, "params"], seeds=list(plan.samples), n_archs=size, repeats=config.repeats,
        device=config.device, cache=config.cache,
        description=f"SWAP-NAS Appendix B: reg-SWAP over a (mu, sigma) grid on {config.groups} disjoint groups")
    return RegularisationPlan(config, plan, size, available, grid, paper_table, study)


def run_regularisation(rplan: RegularisationPlan, options: RunOptions, display: Display | None = None,
                       command: str | None = None) -> StudyResult:
    """Score Psi and Theta of every group on the engine; the grid is applied to the scores afterwards."""
    options.cache = options.cache or rplan.config.cache
    result = run_study(rplan.study, options, display, command, kind="ablation-regularisation", plans=[rplan.plan])
    result.meta["ablation"] = rplan.info()
    return result


def regularisation_scores(scores: pd.DataFrame, group_seeds: Sequence[int]) -> pd.DataFrame:
    """From a run's long scores: one row per architecture with its group, Psi, Theta (millions), accuracy."""
    wide = scores.pivot_table(index=["seed", "arch"], columns="proxy", values="score", sort=False).reset_index()
    acc = scores.drop_duplicates(["seed", "arch"]).set_index(["seed", "arch"])["accuracy"]
    wide["accuracy"] = [acc[(s, a)] for s, a in zip(wide["seed"], wide["arch"], strict=True)]
    group_of = {int(seed): k + 1 for k, seed in enumerate(group_seeds)}
    wide.insert(0, "group", wide["seed"].map(group_of))
    wide = wide.rename(columns={SWAP: "psi", "params": "params_m"})
    return wide[["group", "seed", "arch", "psi", "params_m", "accuracy"]]


def grid_rows(info: dict[str, Any]) -> list[GridRow]:
    """The grid as run.json records it."""
    return [GridRow(b, m, sg, None if p is None else tuple(p)) for b, m, sg, p in info["grid"]]


def regularised(psi: np.ndarray, theta: np.ndarray, mu: float | None, sigma: float | None, form: str) -> np.ndarray:
    """Psi * f(Theta) element-wise, with `reg_swap`'s own f; mu = sigma = None: Psi unchanged."""
    psi = np.asarray(psi, dtype=float)
    if mu is None or sigma is None:
        return psi.copy()
    return psi * np.array([regulariser(float(t), float(mu), float(sigma), form) for t in np.asarray(theta, float)])


def apply_grid(scores: pd.DataFrame, grid: Sequence[GridRow], forms: Sequence[str]) -> pd.DataFrame:
    """Spearman of Psi * f(Theta) per (form, grid row, group), with the same f as `reg_swap`.
    zero_fraction: share of a group whose regularised score underflows to exactly 0 (ties)."""
    rows = []
    for form in forms:
        for g in grid:
            for group, part in scores.groupby("group", sort=True):
                reg = regularised(part["psi"].to_numpy(float), part["params_m"].to_numpy(float), g.mu, g.sigma, form)
                rho, tau = rank_correlations(reg, part["accuracy"].to_numpy(float))
                paper = g.paper[int(group) - 1] if g.paper is not None and int(group) <= len(g.paper) else np.nan
                rows.append(dict(form=form, block=g.block, mu=g.mu, sigma=g.sigma, group=int(group), n=len(part),
                                 spearman=rho, kendall=tau, zero_fraction=float(np.mean(reg == 0)),
                                 paper_spearman=paper))
    return pd.DataFrame(rows)


def grid_table(long: pd.DataFrame) -> pd.DataFrame:
    """Wide: one row per (form, block, mu, sigma) with the Spearman of every group, ours and the paper's."""
    rows = []
    keys = ["form", "block", "mu", "sigma"]
    for (form, block, mu, sigma), part in long.groupby(keys, sort=False, dropna=False):
        row: dict[str, Any] = dict(form=form, block=block, mu=mu, sigma=sigma)
        for _, r in part.iterrows():
            row[f"g{int(r['group'])}"] = r["spearman"]
        row["mean"] = part["spearman"].mean()
        for _, r in part.iterrows():
            row[f"paper_g{int(r['group'])}"] = r["paper_spearman"]
        row["paper_mean"] = part["paper_spearman"].mean()
        row["max_zero_fraction"] = part["zero_fraction"].max()
        rows.append(row)
    return pd.DataFrame(rows)
