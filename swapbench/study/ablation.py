"""The SWAP-NAS paper's ablations (Peng et al., ICLR 2024).

Input size (Table 3): standard activation patterns |A| (Definition 3.1: the distinct per-sample binary
codes over every post-ReLU unit, TE-NAS / NWOT style, so |A| <= batch size) against SWAP (distinct
per-unit patterns over the batch) and regularised SWAP, on inputs of several sizes. |A| and SWAP are
counted in ONE forward of the same Gaussian-initialised network on the same batch, as the paper's Fig. 3
describes them ("the same network with the same input"); with repeats=1 the SWAP value is exactly the
`swap` metric's on that batch.

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

Everything scored is committed to the SQLite score cache the moment it is computed: a killed run resumes.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from swapbench.errors import SwapbenchError
from swapbench.nn.patterns import distinct_rows
from swapbench.proxies.priors import reg_swap_prior
from swapbench.proxies.registry import ProxyContext
from swapbench.proxies.swap import count_patterns, gaussian_init, regulariser
from swapbench.study.cache import ScoreCache
from swapbench.study.config import CorrelateConfig, score_key
from swapbench.study.runner import Plan, _batch, derive_seed, plan_run, score_arch
from swapbench.study.stats import rank_correlations

DEFAULT_CACHE = "runs/cache.sqlite"
# full-space ground truth, so that 1000 architectures can be sampled (NAS-Bench-Suite-Zero holds 725)
FULL_SPACE_TRUTH = {"nb201": "nb201-200ep-test"}
RESIZE_MODES = ("crop", "bilinear")
FORMS = ("paper", "code")

STD, SWAP, REG = "std_patterns", "swap", "reg_swap"
METRIC_LABELS = {STD: "|A|", SWAP: "SWAP", REG: "reg-SWAP"}

# Table 3: (metric, input size) -> (mean, std, Spearman), 1000 architectures, batch 32, CIFAR-10
PAPER_TABLE3: dict[tuple[str, int], tuple[float, float, float]] = {
    (STD, 3): (15.90, 1.42, 0.86), (STD, 15): (31.0, 0.0, 0.45), (STD, 32): (32.0, 0.0, 0.34),
    (SWAP, 3): (42.94, 10.76, 0.86), (SWAP, 15): (859.73, 194.33, 0.84), (SWAP, 32): (3567.02, 775.45, 0.90),
    (REG, 3): (37.77, 11.13, 0.89), (REG, 15): (831.31, 216.11, 0.92), (REG, 32): (3412.49, 867.31, 0.93),
}

NO_REG, EQUAL, FIX_MU, FIX_SIGMA, GRID = (
    "no regularisation", "mu = sigma", "varying sigma, fixed mu", "varying mu, fixed sigma", "grid")

# Appendix B, Tables 4-6: (block, mu, sigma, Spearman of groups 1-5); mu, sigma in millions of parameters
_T4 = [
    (NO_REG, None, None, (0.46, 0.49, 0.45, 0.45, 0.44)),
    (EQUAL, 0.3, 0.3, (-0.77, -0.78, -0.77, -0.75, -0.75)),
    (EQUAL, 5, 5, (0.03, 0.08, 0.07, 0.05, 0.04)),
    (EQUAL, 10, 10, (0.61, 0.63, 0.64, 0.6, 0.64)),
    (EQUAL, 15, 15, (0.74, 0.75, 0.73, 0.73, 0.73)),
    (EQUAL, 20, 20, (0.72, 0.75, 0.75, 0.74, 0.73)),
    (EQUAL, 25, 25, (0.76, 0.76, 0.76, 0.75, 0.74)),
    (EQUAL, 30, 30, (0.76, 0.77, 0.76, 0.74, 0.74)),
    (EQUAL, 40, 40, (0.76, 0.76, 0.77, 0.75, 0.74)),
    (FIX_MU, 40, 30, (0.76, 0.76, 0.76, 0.74, 0.75)),
    (FIX_MU, 40, 20, (0.76, 0.76, 0.76, 0.74, 0.74)),
    (FIX_MU, 40, 10, (0.75, 0.74, 0.73, 0.73, 0.73)),
    (FIX_MU, 40, 0.3, (0.04, 0.04, 0.03, 0.03, 0.03)),
    (FIX_SIGMA, 20, 30, (0.75, 0.76, 0.74, 0.73, 0.74)),
    (FIX_SIGMA, 10, 30, (0.64, 0.64, 0.63, 0.63, 0.66)),
    (FIX_SIGMA, 5, 30, (0.04, 0.08, 0.06, 0.04, 0.06)),
    (FIX_SIGMA, 0.3, 30, (-0.77, -0.78, -0.77, -0.74, -0.75)),
]
_T5 = [
    (NO_REG, None, None, (0.81, 0.79, 0.75, 0.77, 0.75)),
    (EQUAL, 0.1, 0.1, (0.05, 0.04, 0.03, 0.03, 0.03)),
    (EQUAL, 0.7, 0.7, (0.83, 0.82, 0.82, 0.84, 0.81)),
    (EQUAL, 1.5, 1.5, (0.89, 0.87, 0.87, 0.89, 0.87)),
    (FIX_MU, 1.5, 0.87, (0.84, 0.86, 0.86, 0.84, 0.74)),
    (FIX_MU, 1.5, 0.4, (0.83, 0.78, 0.83, 0.79, 0.79)),
    (FIX_MU, 1.5, 0.1, (0.54, 0.54, 0.53, 0.54, 0.51)),
    (FIX_SIGMA, 0.6, 0.7, (0.82, 0.82, 0.82, 0.83, 0.81)),
    (FIX_SIGMA, 0.3, 0.7, (0.51, 0.49, 0.51, 0.54, 0.5)),
    (FIX_SIGMA, 0.1, 0.7, (0.23, 0.21, 0.23, 0.24, 0.21)),
]
_T6 = [
    (NO_REG, None, None, (0.57, 0.58, 0.57, 0.57, 0.54)),
    (EQUAL, 1.0, 1.0, (0.57, 0.58, 0.57, 0.57, 0.55)),
    (EQUAL, 1.5, 1.5, (0.63, 0.61, 0.61, 0.61, 0.60)),
    (EQUAL, 1.8, 1.8, (0.63, 0.63, 0.63, 0.63, 0.62)),
    (FIX_MU, 1.8, 1.5, (0.63, 0.63, 0.62, 0.63, 0.62)),
    (FIX_MU, 1.8, 1.3, (0.62, 0.62, 0.61, 0.61, 0.62)),
    (FIX_MU, 1.8, 1.0, (0.62, 0.60, 0.60, 0.61, 0.60)),
    (FIX_SIGMA, 1.3, 1.5, (0.62, 0.62, 0.60, 0.60, 0.60)),
    (FIX_SIGMA, 1.2, 1.5, (0.61, 0.61, 0.61, 0.59, 0.60)),
    (FIX_SIGMA, 1.0, 1.5, (0.60, 0.59, 0.59, 0.59, 0.59)),
]
PAPER_REG_TABLES: dict[str, tuple[str, list]] = {
    "nb101": ("Table 4", _T4), "nb201": ("Table 5", _T5), "nb301": ("Table 6", _T6),
}

Progress = Callable[[int], None] | None


# ---------------------------------------------------------------------------------------------
# counting


def pattern_counts(net: nn.Module, inputs: torch.Tensor) -> tuple[int, int]:
    """(|A|, Psi) from one no-grad forward: the distinct per-sample codes (rows) and the distinct per-unit
    patterns (columns) of the binarised outputs of every nn.ReLU call with a 4-D input.

    The calls are those `swap.count_patterns` counts; a call repeating an already-seen input is skipped,
    which changes neither count (it only duplicates columns)."""
    codes: list[torch.Tensor] = []
    psi = count_patterns(net, inputs, sample_codes=codes)
    return (distinct_rows(torch.cat(codes, dim=1)) if codes else 0), psi


def resize_batch(x: torch.Tensor, size: int, mode: str, gen: torch.Generator) -> torch.Tensor:
    """An s x s version of a normalised (N, C, H, W) batch: per-image random crop, or bilinear resize."""
    n, _, h, w = x.shape
    if mode == "crop":
        if size > min(h, w):
            raise SwapbenchError(f"--sizes: cannot crop {size}x{size} from {h}x{w} images; use --resize bilinear")
        ys = torch.randint(0, h - size + 1, (n,), generator=gen)
        xs = torch.randint(0, w - size + 1, (n,), generator=gen)
        return torch.stack([x[i, :, int(ys[i]):int(ys[i]) + size, int(xs[i]):int(xs[i]) + size] for i in range(n)])
    if mode == "bilinear":
        if size == h and size == w:
            return x.clone()
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    raise SwapbenchError(f"unknown --resize '{mode}'; use {' or '.join(RESIZE_MODES)}")


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
    out: str = "runs/ablation-input-size"
    cache: str | None = None  # None: runs/cache.sqlite
    threads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class InputSizePlan:
    config: InputSizeConfig
    plan: Plan  # the correlation plan (truth, sample, images, device, `swap` options, `params` key)
    effective: dict[int, int]  # requested size -> size fed to the network
    keys: dict[tuple[str, int], str]  # (metric, effective size) -> cache key
    idents: dict[tuple[str, int], dict[str, Any]]
    mu: float
    sigma: float

    @property
    def total(self) -> int:
        return self.plan.total


def _images_ident(plan: Plan) -> str:
    images = plan.images
    assert images is not None
    return f"{images.name}:{len(images)}:{'substitute' if images.substitute else 'real'}"


def plan_input_size(config: InputSizeConfig) -> InputSizePlan:
    """Validate everything and resolve sizes and cache keys before any scoring."""
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
    corr = CorrelateConfig(
        space=config.space, task=config.task, proxies=[SWAP, "params"], n_archs=config.n_archs, seeds=[config.seed],
        batch_size=config.batch_size, proxy_options={SWAP: {"repeats": config.repeats}}, truth=truth,
        device=config.device, data_dir=config.data_dir, out=config.out, cache=config.cache or DEFAULT_CACHE,
        threads=config.threads,
    )
    plan = plan_run(corr)
    info = plan.space.task(config.task)
    if len(info.input_shape) != 3:
        raise SwapbenchError(f"the input-size ablation needs image inputs; {space.name}/{config.task} has "
                             f"input shape {info.input_shape}")
    native = min(info.input_shape[1:])
    if config.resize == "crop" and max(config.sizes) > native:
        raise SwapbenchError(f"--sizes: {max(config.sizes)} exceeds the {native}x{native} images; "
                             "crops cannot be larger (use --resize bilinear)")
    default = reg_swap_prior(plan.space, config.task)
    mu = config.mu if config.mu is not None else default
    sigma = config.sigma if config.sigma is not None else default
    if mu is None or sigma is None:
        raise SwapbenchError(f"space {space.name} has no default mu/sigma; pass --mu and --sigma")
    if sigma <= 0:
        raise SwapbenchError("--sigma must be > 0")
    # the network skeleton (stem, reduction blocks) is the same for every architecture of a space
    seed, first = config.seed, plan.samples[config.seed][0]
    probe_net = plan.space.build(plan.truth.archs[first], config.task)
    x, _ = _batch(plan, seed, "")
    effective = {s: accepted_size(probe_net, x, s, config.resize, limit=max(native, s)) for s in config.sizes}
    if len(set(effective.values())) != len(effective):
        raise SwapbenchError(f"--sizes map to the same accepted input size ({effective}); drop one")
    keys, idents = {}, {}
    opts = plan.options[SWAP]
    for eff in effective.values():
        for metric in (STD, SWAP):
            keys[(metric, eff)], idents[(metric, eff)] = score_key(
                space=space.name, task=config.task, proxy=f"ablation-input-size/{metric}",
                options={**opts, "input_size": eff, "resize": config.resize},
                batch_size=plan.batch_size, batch_policy="fixed", images=_images_ident(plan),
                device_type=plan.device.type,
            )
    for req, eff in effective.items():
        if req != eff:
            plan.notices.append(f"the {space.name} network rejects {req}x{req} inputs; {eff}x{eff} is used instead")
    return InputSizePlan(config, plan, effective, keys, idents, float(mu), float(sigma))


def size_batches(iplan: InputSizePlan) -> dict[int, torch.Tensor]:
    """The batch of every effective size, derived from the seed's fixed batch (deterministic)."""
    plan, seed = iplan.plan, iplan.config.seed
    x, _ = _batch(plan, seed, "")
    out = {}
    for eff in iplan.effective.values():
        gen = torch.Generator().manual_seed(derive_seed("resize", seed, iplan.config.resize, eff))
        out[eff] = resize_batch(x, eff, iplan.config.resize, gen).to(plan.device)
    return out


def score_patterns(plan: Plan, seed: int, arch: Any, x: torch.Tensor) -> tuple[float, float]:
    """(|A|, Psi) of one architecture on batch `x`, each averaged over the `swap` metric's repeats; the
    network and its re-initialisations are the ones `swap` uses, so Psi equals `swap` on the same batch."""
    space, task = plan.space, plan.config.task
    arch_key = space.canonical_key(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed("init", seed, arch_key))
        net = space.build(arch, task)
    net = net.to(plan.device).train()
    opts = plan.options[SWAP]
    ctx = ProxyContext(space=space, task=task, seed=seed, arch_key=arch_key, options=opts)
    repeats, init = int(opts["repeats"]), str(opts["init"])
    gen = ctx.generator("swap-init", x.device) if init == "gaussian" else None
    std, psi = [], []
    for _ in range(repeats):
        if init == "gaussian":
            gaussian_init(net, gen)
        a, p = pattern_counts(net, x)
        std.append(a)
        psi.append(p)
    return sum(std) / repeats, sum(psi) / repeats


def execute_input_size(iplan: InputSizePlan, cache: ScoreCache, progress: Progress = None) -> dict[str, Any]:
    """Score |A| and Psi at every size and Theta once, for every sampled architecture not yet cached."""
    from swapbench.device import set_deterministic

    set_deterministic()
    plan, seed = iplan.plan, iplan.config.seed
    if plan.config.threads:
        torch.set_num_threads(plan.config.threads)
    theta_key = plan.keys["params"]
    cache.register(theta_key, plan.key_idents["params"])
    for key, ident in zip(iplan.keys.values(), iplan.idents.values(), strict=True):
        cache.register(key, ident)
    params_spec = next(s for s in plan.proxies if s.name == "params")
    fixed = _batch(plan, seed, "")
    batches = size_batches(iplan)
    computed = reused = 0
    start = time.perf_counter()
    for row in plan.samples[seed]:
        arch = plan.truth.archs[row]
        ak = plan.space.canonical_key(arch)
        if cache.get(theta_key, seed, ak) is None:
            value, secs = score_arch(plan, seed, arch, [params_spec], fixed)["params"]
            cache.put(theta_key, seed, ak, value, secs)
            computed += 1
        else:
            reused += 1
        for eff, x in batches.items():
            std_key, swap_key = iplan.keys[(STD, eff)], iplan.keys[(SWAP, eff)]
            if cache.get(std_key, seed, ak) is None or cache.get(swap_key, seed, ak) is None:
                t0 = time.perf_counter()
                std, psi = score_patterns(plan, seed, arch, x)
                secs = time.perf_counter() - t0  # one shared forward: both get its full time
                cache.put(std_key, seed, ak, std, secs)
                cache.put(swap_key, seed, ak, psi, secs)
                computed += 2
            else:
                reused += 2
        if progress:
            progress(1)
    return dict(computed=computed, reused=reused, wall_seconds=time.perf_counter() - start)


def input_size_scores(iplan: InputSizePlan, cache: ScoreCache) -> pd.DataFrame:
    """One row per (architecture, input size, metric); reg_swap = Psi * f(Theta)."""
    plan, cfg, seed = iplan.plan, iplan.config, iplan.config.seed
    idx = plan.samples[seed]
    canon = [plan.space.canonical_key(plan.truth.archs[i]) for i in idx]
    theta = cache.fetch(plan.keys["params"], seed, canon)
    stored = {k: cache.fetch(key, seed, canon) for k, key in iplan.keys.items()}
    rows = []
    for i, ck in zip(idx, canon, strict=True):
        if ck not in theta:
            raise SwapbenchError(f"score missing for {ck} / params; re-run to complete")
        th = theta[ck][0]
        for req, eff in iplan.effective.items():
            if ck not in stored[(STD, eff)] or ck not in stored[(SWAP, eff)]:
                raise SwapbenchError(f"score missing for {ck} at size {eff}; re-run to complete")
            psi = stored[(SWAP, eff)][ck][0]
            values = {STD: stored[(STD, eff)][ck][0], SWAP: psi,
                      REG: psi * regulariser(th, iplan.mu, iplan.sigma, cfg.form)}
            for metric, value in values.items():
                rows.append(dict(seed=seed, arch=plan.truth.keys[i], input_size=req, effective_size=eff,
                                 metric=metric, score=value, params_m=th, accuracy=float(plan.truth.accuracy[i])))
    return pd.DataFrame(rows)


def input_size_seconds(iplan: InputSizePlan, cache: ScoreCache) -> dict[str, dict[str, float]]:
    """Per-architecture compute seconds from the cache (so a re-run from the cache reports the real cost):
    `patterns@S` is the one forward counting |A| and Psi at size S, `params` the Theta count."""
    plan, seed = iplan.plan, iplan.config.seed
    canon = [plan.space.canonical_key(plan.truth.archs[i]) for i in plan.samples[seed]]
    keys = {"params": plan.keys["params"], **{f"patterns@{eff}": iplan.keys[(SWAP, eff)]
                                               for eff in iplan.effective.values()}}
    out = {}
    for name, key in keys.items():
        secs = [t for _, t in cache.fetch(key, seed, canon).values()]
        if secs:
            out[name] = dict(mean=float(np.mean(secs)), median=float(np.median(secs)), total=float(np.sum(secs)),
                             n=len(secs))
    return out


def input_size_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Table 3: mean and std (ddof=0) over architectures, rank correlations, the paper's values."""
    rows = []
    for metric in (STD, SWAP, REG):
        for req in sorted(scores["input_size"].unique()):
            g = scores[(scores["metric"] == metric) & (scores["input_size"] == req)]
            rho, tau = rank_correlations(g["score"].to_numpy(), g["accuracy"].to_numpy())
            paper = PAPER_TABLE3.get((metric, int(req)), (np.nan, np.nan, np.nan))
            rows.append(dict(metric=metric, input_size=int(req), effective_size=int(g["effective_size"].iloc[0]),
                             n=len(g), mean=g["score"].mean(), std=g["score"].std(ddof=0),
                             min=g["score"].min(), max=g["score"].max(), spearman=rho, kendall=tau,
                             paper_mean=paper[0], paper_std=paper[1], paper_spearman=paper[2]))
    return pd.DataFrame(rows)


def _num(v: float, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def input_size_markdown(table: pd.DataFrame, iplan: InputSizePlan) -> str:
    cfg, plan = iplan.config, iplan.plan
    lines = [
        f"# Input-size ablation (paper Table 3): {cfg.space} / {cfg.task}",
        "",
        f"{len(plan.samples[cfg.seed])} architectures (seed {cfg.seed}) of truth table '{plan.truth.name}', "
        f"one fixed batch of {plan.batch_size} images, inputs made by `{cfg.resize}`; SWAP repeats "
        f"{plan.options[SWAP]['repeats']} (init {plan.options[SWAP]['init']}); reg-SWAP = SWAP x f(Theta), "
        f"form `{cfg.form}`, mu = {iplan.mu:g}, sigma = {iplan.sigma:g} (millions of parameters). "
        "Values: mean ± std over architectures (std with ddof=0); rho: Spearman with accuracy "
        "('–': undefined, every architecture has the same value).",
        "",
        "| metric | input | fed to net | ours: mean ± std | ours rho | paper: mean ± std | paper rho |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in table.iterrows():
        lines.append(
            f"| {METRIC_LABELS[r['metric']].replace('|', chr(92) + '|')} | {r['input_size']}x{r['input_size']} | "
            f"{r['effective_size']}x{r['effective_size']} | {_num(r['mean'])} ± {_num(r['std'])} | "
            f"{_num(r['spearman'])} | {_num(r['paper_mean'])} ± {_num(r['paper_std'])} | {_num(r['paper_spearman'])} |"
        )
    if plan.notices:
        lines += ["", *[f"- note: {n}" for n in plan.notices]]
    return "\n".join(lines) + "\n"


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
    out: str | None = None  # None: runs/ablation-reg-<space>
    cache: str | None = None  # None: runs/cache.sqlite
    threads: int | None = None

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

    @property
    def total(self) -> int:
        return self.plan.total

    def group_seeds(self) -> list[int]:
        return list(self.plan.samples)


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
    if space in PAPER_REG_TABLES:
        name, rows = PAPER_REG_TABLES[space]
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
        device=config.device, data_dir=config.data_dir, out=config.out or f"runs/ablation-reg-{space.name}",
        cache=config.cache or DEFAULT_CACHE, threads=config.threads,
    )
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
    return RegularisationPlan(config, plan, size, available, grid, paper_table)


def regularisation_scores(rplan: RegularisationPlan, cache: ScoreCache) -> pd.DataFrame:
    """One row per architecture: group, Psi, Theta (millions), accuracy."""
    from swapbench.study.runner import collect_scores

    long = collect_scores(rplan.plan, cache)
    wide = long.pivot_table(index=["seed", "arch"], columns="proxy", values="score", sort=False).reset_index()
    acc = long.drop_duplicates(["seed", "arch"]).set_index(["seed", "arch"])["accuracy"]
    wide["accuracy"] = [acc[(s, a)] for s, a in zip(wide["seed"], wide["arch"], strict=True)]
    group_of = {seed: k + 1 for k, seed in enumerate(rplan.group_seeds())}
    wide.insert(0, "group", wide["seed"].map(group_of))
    wide = wide.rename(columns={SWAP: "psi", "params": "params_m"})
    return wide[["group", "seed", "arch", "psi", "params_m", "accuracy"]]


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


def regularisation_markdown(table: pd.DataFrame, rplan: RegularisationPlan, scores: pd.DataFrame) -> str:
    cfg, plan = rplan.config, rplan.plan
    groups = list(range(1, cfg.groups + 1))
    theta = scores["params_m"]
    lines = [
        f"# Regulariser ablation (paper {rplan.paper_table or 'Appendix B'}): {cfg.space} / {cfg.task}",
        "",
        f"{cfg.groups} disjoint groups of {rplan.group_size} architectures (group size = min(1000, available // "
        f"{cfg.groups}) = min(1000, {rplan.available} // {cfg.groups}) unless --group-size is given; the paper uses "
        f"groups of 1000) from truth table '{plan.truth.name}'. Group k is scored with seed {cfg.seed}+k-1 "
        f"(its own fixed batch of {plan.batch_size} images and initialisation). Psi = `swap` (repeats "
        f"{plan.options[SWAP]['repeats']}), Theta = `params` (executed parameters, millions: "
        f"{theta.min():.3f} to {theta.max():.3f}, median {theta.median():.3f}). Cells: Spearman of "
        "Psi * f(Theta) with accuracy; in brackets the paper's value. Forms: `paper` f = exp(-((Theta-mu)/sigma)^2), "
        "`code` f = exp(-(Theta-mu)^2/sigma). 'zero' = the largest share of a group whose score underflows "
        "to exactly 0 (tied).",
    ]
    for form in cfg.forms:
        part = table[table["form"] == form]
        lines += ["", f"## form `{form}`", "",
                  "| block | mu | sigma | " + " | ".join(f"G{g}" for g in groups) + " | mean | paper mean | zero |",
                  "|---|---|---|" + "---|" * (len(groups) + 3)]
        for _, r in part.iterrows():
            cells = []
            for g in groups:
                ours, paper = r.get(f"g{g}", np.nan), r.get(f"paper_g{g}", np.nan)
                cells.append(_num(ours) + ("" if pd.isna(paper) else f" ({paper:.2f})"))
            mu = "N/A" if pd.isna(r["mu"]) else f"{r['mu']:g}"
            sigma = "N/A" if pd.isna(r["sigma"]) else f"{r['sigma']:g}"
            lines.append(f"| {r['block']} | {mu} | {sigma} | " + " | ".join(cells)
                         + f" | {_num(r['mean'])} | {_num(r['paper_mean'])} | {r['max_zero_fraction']:.2f} |")
    if plan.notices:
        lines += ["", *[f"- note: {n}" for n in plan.notices]]
    return "\n".join(lines) + "\n"


def default_out(space: str) -> Path:
    return Path(f"runs/ablation-reg-{space}")
