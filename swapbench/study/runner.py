"""The scoring loop: for each seed and sampled architecture, build the network, score it with every
requested metric, and commit each score to the cache at once."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from swapbench.data.benchmarks import TruthTable, load_truth
from swapbench.data.datadir import resolve_data_dir
from swapbench.data.fetch import run_needs
from swapbench.data.images import ImageSet, first_batch, load_images, make_batch
from swapbench.data.sources import item_state
from swapbench.device import release_memory, resolve_device
from swapbench.errors import StorageError, SwapbenchError
from swapbench.nn.checkpointing import checkpointing, set_checkpointing
from swapbench.proxies import release_spent
from swapbench.proxies.registry import ProxyContext, ProxySpec, get_proxy, run_proxy
from swapbench.spaces import get_space
from swapbench.spaces.base import SearchSpace
from swapbench.study.cache import ScoreCache
from swapbench.study.config import CorrelateConfig, score_key, split_variant
from swapbench.study.protocols import Protocol, get_protocol
from swapbench.study.sampling import sample_indices
from swapbench.study.stats import ceiling_shares, correlation_table, summarise

Notify = Callable[[str], None]


def derive_seed(*parts: Any) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


@dataclass
class Plan:
    """A validated, resolved run: what will be scored and under which cache keys."""

    config: CorrelateConfig
    space: SearchSpace
    truth: TruthTable
    images: ImageSet | None
    device: torch.device
    batch_size: int
    proxies: list[ProxySpec]
    options: dict[str, dict[str, Any]]
    keys: dict[str, str]
    key_idents: dict[str, dict[str, Any]]
    samples: dict[int, list[int]]  # seed -> truth-table rows
    notices: list[str] = field(default_factory=list)
    protocol: Protocol = field(default_factory=lambda: get_protocol(None))
    batch_policy: str = "fixed"  # resolved: the config's, else the protocol's

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.samples.values())


def resolve_keys(space: SearchSpace, config: CorrelateConfig, proxies: list[ProxySpec], batch_size: int,
                 images: ImageSet | None, device: torch.device
                 ) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, dict[str, Any]]]:
    """Per proxy: resolved options, cache key and the key's ingredients (shared by correlate and search, so
    both read and write the same scores)."""
    protocol = get_protocol(config.protocol)
    batch_policy = config.batch_policy or protocol.batch_policy
    options, keys, idents = {}, {}, {}
    for spec in proxies:
        base, size = split_variant(spec.name)
        # the protocol's options, then --repeats, then --option (the metric's, then the variant's): the more
        # explicit wins
        overrides = protocol.options_for(base)
        if config.repeats is not None and "repeats" in spec.options:
            overrides["repeats"] = config.repeats
        overrides.update(config.proxy_options.get(base, {}))
        if size is not None:
            overrides.update(config.proxy_options.get(spec.name, {}))
        opts = spec.resolve_options(overrides)
        options[spec.name] = opts
        keyed = opts if size is None else {**opts, "input_size": size, "resize": config.resize}
        keys[spec.name], idents[spec.name] = score_key(
            space=space.name,
            task=config.task,
            proxy=spec.name,
            options=keyed,
            batch_size=batch_size,
            batch_policy=batch_policy,
            # a metric that does not read the images gets the same key whatever else is in the run
            images=f"{images.name}:{len(images)}:{'substitute' if images.substitute else 'real'}"
            if images is not None and spec.data == "batch" else "none",
            device_type=device.type,
        )
    return options, keys, idents


def plan_run(config: CorrelateConfig, with_truth: bool = True) -> Plan:
    """Check every input before any work starts, so bad input fails fast and touches nothing.
    Without truth (`with_truth=False`: scoring given architectures) nothing is sampled."""
    protocol = get_protocol(config.protocol)
    space = get_space(protocol.space_for(config.space))
    info = space.task(config.task)
    if not config.proxies:
        raise SwapbenchError("no proxies given; pass --proxies swap,reg_swap (see `swapbench proxies`)")
    proxies = [metric_spec(name) for name in config.proxies]
    if config.resize not in RESIZE_MODES:
        raise SwapbenchError(f"unknown resize '{config.resize}'; use {' or '.join(RESIZE_MODES)}")
    if config.n_archs < 3:
        raise SwapbenchError(f"--n-archs must be at least 3 to compute a rank correlation (got {config.n_archs})")
    if not config.seeds:
        raise SwapbenchError("no seeds given; pass e.g. --seeds 0-4")
    batch_size, batch_policy = protocol.batch_for(info.default_batch_size, config.batch_size, config.batch_policy)
    for name in config.proxy_options:
        if name not in config.proxies and name not in {split_variant(p)[0] for p in config.proxies}:
            raise SwapbenchError(f"option given for proxy '{name}', which is not in --proxies")
    device = resolve_device(config.device)
    bases = list(dict.fromkeys(split_variant(p)[0] for p in config.proxies))
    needs = run_needs(space.name, config.task, config.truth, bases)
    if not with_truth:
        truth_items = {item.target for _, item in run_needs(space.name, config.task, config.truth, [])}
        needs = [(name, item) for name, item in needs if item.target not in truth_items]
    data_dir = resolve_data_dir(config.data_dir, needs=list(dict.fromkeys(name for name, _ in needs)))
    truth = (load_truth(space, config.task, data_dir, config.truth, config.arch_column, config.acc_column)
             if with_truth else TruthTable.empty())
    notices = list(truth.notices)
    if space.name != config.space:
        notices.append(f"protocol {protocol.name} scores {config.space} architectures on the {space.name} network")
    n = config.n_archs
    if with_truth and n > len(truth):
        notices.append(f"--n-archs {n} capped at the {len(truth)} architectures of truth table '{truth.name}'")
        n = len(truth)
    needs_images = any(p.data == "batch" for p in proxies)
    images = load_images(info.dataset, data_dir) if needs_images else None
    if images is not None and images.substitute:
        notices.append(f"inputs for {config.task} are a SUBSTITUTE image set ({images.source})")
    for _, item in needs:
        state = item_state(data_dir, item)
        if state.state == "unverified":
            notices.append(f"{item.target} is an UNVERIFIED download ({state.detail})")
    options, keys, idents = resolve_keys(space, config, proxies, batch_size, images, device)
    samples = ({seed: sample_indices(len(truth), n, seed)[:config.limit_archs] for seed in config.seeds}
               if with_truth else {seed: [] for seed in config.seeds})
    if config.limit_archs is not None and config.limit_archs < n:
        notices.append(f"--limit-archs {config.limit_archs}: the first {config.limit_archs} of {n} sampled "
                       f"architectures per seed")
    return Plan(config, space, truth, images, device, batch_size, proxies, options, keys, idents, samples, notices,
                protocol, batch_policy)


def run_batch(plan: Plan, seed: int, arch_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The (inputs, targets) batch a run scores architecture `arch_key` of `seed` on (under the fixed and
    first policies the same for every architecture of the seed); public so that measurements of single
    passes use exactly a run's batch."""
    if plan.images is None:
        info = plan.space.task(plan.config.task)
        return torch.zeros((plan.batch_size, *info.input_shape)), torch.zeros(plan.batch_size, dtype=torch.long)
    if plan.batch_policy == "first":
        x, y = first_batch(plan.images, plan.batch_size)
        gen = torch.Generator().manual_seed(derive_seed("batch", seed))
        return plan.space.prepare_batch(plan.config.task, x, y, gen)
    fixed = plan.batch_policy == "fixed"
    gen = torch.Generator().manual_seed(derive_seed("batch", seed) if fixed else derive_seed("batch", seed, arch_key))
    x, y = make_batch(plan.images, plan.batch_size, gen, augment=not fixed)
    return plan.space.prepare_batch(plan.config.task, x, y, gen)




def build_network(space: SearchSpace, arch: Any, task: str, seed: int) -> torch.nn.Module:
    """The network every metric of a run scores: its initialisation depends only on (seed, arch)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed("init", seed, space.canonical_key(arch)))
        return space.build(arch, task)


def checkpoint_blocks(mode: str = "auto") -> bool:
    """Whether the networks that can checkpoint their blocks (swapbench.nn.checkpointing; TransNAS-Bench-101's)
    do: `off`, or `on` / `auto` (the default: on). Checkpointed, a network's gradient passes hold one block's
    activations at a time, and grasp takes its Hessian-gradient product one block at a time
    (swapbench.nn.blockwise): equal to float rounding, about half the peak, 1.5-2x its seconds."""
    return mode != "off"


def score_arch(plan: Plan, seed: int, arch: Any, specs: list[ProxySpec],
               batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, tuple[float, float]]:
    """Scores of one architecture: {proxy: (score, seconds)}. Depends only on (seed, arch, config)."""
    space, task = plan.space, plan.config.task
    arch_key = space.canonical_key(arch)
    net = build_network(space, arch, task, seed).to(plan.device)
    set_checkpointing(net, checkpoint_blocks(plan.config.checkpointing))
    # a checkpointed network is a large one: give the freed heap back after each metric too (a few ms), or
    # glibc keeps up to a GiB of one metric's gaps resident under the next (TNB101 autoencoder networks)
    lean = checkpointing(net)
    x, y = batch if batch is not None else run_batch(plan, seed, arch_key)
    x, y = x.to(plan.device), y.to(plan.device)
    out = {}
    groups: dict[int | None, list[ProxySpec]] = {}
    for spec in specs:  # metrics on the same input share one memo (and so their passes)
        groups.setdefault(split_variant(spec.name)[1], []).append(spec)
    for size, group in groups.items():
        inputs = x if size is None else sized_batch(x, size, plan.config.resize, seed)
        memo: dict = {}
        planned = frozenset(spec.name for spec in group)
        for i, spec in enumerate(group):
            ctx = ProxyContext(space=space, task=task, seed=seed, arch_key=arch_key,
                               options=plan.options[spec.name], memo=memo, planned=planned)
            start = time.perf_counter()
            try:
                value = run_proxy(spec, net, inputs, y, space.loss_fn(task), ctx)
            except RuntimeError as exc:
                if size is None:
                    raise
                raise SwapbenchError(f"{spec.name}: the {space.name} network rejects {size}x{size} inputs "
                                     f"({' '.join(str(exc).split())[:120]}); choose another size") from None
            if plan.device.type == "cuda":
                torch.cuda.synchronize(plan.device)
            out[spec.name] = (value, time.perf_counter() - start)
            release_spent(memo, (split_variant(later.name)[0] for later in group[i + 1:]))
            if lean:
                release_memory()
    return {spec.name: out[spec.name] for spec in specs}


def metric_spec(name: str) -> ProxySpec:
    """The registered metric, or a variant of it on inputs of another size (`swap@16x16`), which scores and
    caches under its own name."""
    base, size = split_variant(name)
    spec = get_proxy(base)
    if size is None:
        return spec
    if spec.data != "batch":
        raise SwapbenchError(f"metric variant '{name}': {base} does not read images, so an input size means nothing")
    return replace(spec, name=name)


RESIZE_MODES = ("crop", "bilinear")


def resize_batch(x: torch.Tensor, size: int, mode: str, gen: torch.Generator) -> torch.Tensor:
    """An s x s version of a normalised (N, C, H, W) batch: per-image random crop (how the official SWAP code
    makes other input sizes), or antialiased bilinear resizing of the whole image."""
    n, _, h, w = x.shape
    if mode == "crop":
        if size > min(h, w):
            raise SwapbenchError(f"cannot crop {size}x{size} from {h}x{w} images; use bilinear resizing")
        ys = torch.randint(0, h - size + 1, (n,), generator=gen)
        xs = torch.randint(0, w - size + 1, (n,), generator=gen)
        return torch.stack([x[i, :, int(ys[i]):int(ys[i]) + size, int(xs[i]):int(xs[i]) + size] for i in range(n)])
    if mode == "bilinear":
        if size == h and size == w:
            return x.clone()
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    raise SwapbenchError(f"unknown resize '{mode}'; use {' or '.join(RESIZE_MODES)}")


def sized_batch(x: torch.Tensor, size: int, mode: str, seed: int) -> torch.Tensor:
    """The batch a size variant scores: derived from the run's batch, the crops fixed by (seed, mode, size)."""
    gen = torch.Generator().manual_seed(derive_seed("resize", seed, mode, size))
    return resize_batch(x.cpu(), size, mode, gen).to(x.device)


def collect_scores(plan: Plan, cache: ScoreCache) -> pd.DataFrame:
    """scores.csv rows, in (seed, sampled order, proxy order)."""
    rows = []
    for seed, idx in plan.samples.items():
        canon = [plan.space.canonical_key(plan.truth.archs[i]) for i in idx]
        stored = {s.name: cache.fetch(plan.keys[s.name], seed, canon) for s in plan.proxies}
        for i, ck in zip(idx, canon, strict=True):
            for spec in plan.proxies:
                if ck not in stored[spec.name]:
                    raise SwapbenchError(f"score missing for {ck} / {spec.name}; re-run to complete")
                rows.append(dict(seed=seed, arch=plan.truth.keys[i], proxy=spec.name,
                                 score=stored[spec.name][ck][0], accuracy=float(plan.truth.accuracy[i])))
    return pd.DataFrame(rows, columns=["seed", "arch", "proxy", "score", "accuracy"])


def stored_seconds(plan: Plan, cache: ScoreCache) -> dict[str, dict[str, float]]:
    """Per-proxy time per architecture, from the cache (so resumed runs report full timings)."""
    out = {}
    for spec in plan.proxies:
        secs = []
        for seed, idx in plan.samples.items():
            canon = [plan.space.canonical_key(plan.truth.archs[i]) for i in idx]
            secs += [t for _, t in cache.fetch(plan.keys[spec.name], seed, canon).values()]
        if secs:
            out[spec.name] = dict(mean=float(np.mean(secs)), median=float(np.median(secs)),
                                  total=float(np.sum(secs)), n=len(secs))
    return out


def at_ceiling(scores: pd.DataFrame, batch_size: int | None, options: dict[str, dict[str, Any]] | None = None
               ) -> dict[str, float]:
    """Per scored metric with a ceiling: the share of `scores` at it (stats.ceiling_shares), for a column
    scored at `batch_size` with the resolved `options` (per metric; the defaults where absent)."""
    if batch_size is None:
        return {}
    bounds = {}
    for name in scores["proxy"].unique():
        try:
            bounds[name] = metric_spec(name).ceiling_at(batch_size, (options or {}).get(name))
        except SwapbenchError:  # a metric this version no longer has (a re-rendered old run)
            continue
    return ceiling_shares(scores, bounds)


def results_frames(plan: Plan, cache: ScoreCache) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    scores = collect_scores(plan, cache)
    draws: dict = {}
    corr = correlation_table(scores, plan.space.name, plan.config.task, draws=draws)
    summary = summarise(corr, draws)
    summary["at_ceiling"] = summary["proxy"].map(at_ceiling(scores, plan.batch_size, plan.options))
    summary["input"] = "substitute" if plan.images is not None and plan.images.substitute else "real"
    return scores, corr, summary


def writable_dir(path: Path, flag: str = "--out") -> Path:
    """Create `path` and prove it takes a file, before any scoring starts: a bad output location must not
    cost a run."""
    import tempfile

    if path.exists() and not path.is_dir():
        raise StorageError(f"{flag} {path} is a file, not a directory; pass {flag} with a directory path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise StorageError(f"cannot write to {flag} {path} ({reason}); pass {flag} with a writable directory") \
            from None
    return path
