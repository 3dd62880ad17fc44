"""Label-free selection of L-SWAG's layer band for a (space, task), and its band file.

The paper picks the band once per benchmark from the per-depth-percentile statistics of log sigma over
randomly sampled networks at initialisation: "the beginning and the end of the spikes". Its chosen values
are not published in the main text, so the band is recomputed here with an explicit rule ([INF]):

1. Sample `n_networks` architectures with ``space.random_arch`` (numpy generator seeded with `seed`) and
   build each with the space's default initialisation (torch seeded from `seed` and the network index).
2. One fixed batch of `batch_size` training images (the task's default size), drawn with `seed`, no
   augmentation. For each network: the per-weight sigma of lswag's Lambda (same sub-batches, estimator
   and eps), then per Conv2d/Linear layer the mean of log sigma over its weights, then per depth bin
   (10 bins, lswag's binning) the mean over the layers in that bin.
3. Per bin, the mean and the standard deviation of that value across networks.
4. Spikes are the bins whose across-network standard deviation is above
   median + `threshold` x MAD of the ten standard deviations (default threshold 0: above the median):
   the depths where the gradient statistics differ most between architectures, i.e. where they carry
   information about the architecture. The band runs from the first spike bin to the last one (a single
   bin, the largest, if no bin stands out). No accuracy or label-quality signal is used (labels enter
   only through the loss, as in the metric itself).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from swapbench.data.datadir import resolve_data_dir
from swapbench.data.images import load_images, make_batch
from swapbench.nn.passes import sub_batch_grads
from swapbench.proxies.lswag import PERC_BINS, depth_bins, log_sigma_profile
from swapbench.proxies.priors import user_band_file, write_band
from swapbench.spaces import get_space
from swapbench.spaces.base import SearchSpace


def bin_profile(values: list[float | None]) -> np.ndarray:
    """Per-layer values -> per-bin means (NaN where a bin has no layer with a value)."""
    sums, counts = np.zeros(PERC_BINS), np.zeros(PERC_BINS)
    for v, b in zip(values, depth_bins(len(values)), strict=True):
        if v is not None:
            sums[b] += v
            counts[b] += 1
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def spike_band(spread: np.ndarray, threshold: float = 0.0) -> tuple[int, int]:
    """First and last bin whose spread exceeds median + threshold * MAD (NaN bins never qualify)."""
    valid = ~np.isnan(spread)
    if not valid.any():
        return 0, PERC_BINS - 1
    med = float(np.median(spread[valid]))
    mad = float(np.median(np.abs(spread[valid] - med)))
    spikes = [b for b in range(PERC_BINS) if valid[b] and spread[b] > med + threshold * mad]
    if not spikes:
        top = int(np.nanargmax(spread))
        return top, top
    return min(spikes), max(spikes)


def select_band(
    space: SearchSpace | str,
    task: str,
    n_networks: int = 100,
    seed: int = 0,
    data_dir: str | Path | None = None,
    batch_size: int | None = None,
    *,
    sigma: str = "abs",
    eps: float = 1e-12,
    batches: int = 2,
    threshold: float = 0.0,
    band_file: Path | Literal["user"] | None = "user",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Compute the band (and its statistics) and store it in `band_file`: by default the user's band file
    (proxies.priors.user_band_file), read over the packaged bands; None stores nothing."""
    space = get_space(space) if isinstance(space, str) else space
    info = space.task(task)
    if n_networks < 2:
        raise ValueError("select_band needs at least 2 networks")
    batch_size = batch_size or info.default_batch_size
    images = load_images(info.dataset, resolve_data_dir(data_dir))
    gen = torch.Generator().manual_seed(seed)
    x, y = make_batch(images, batch_size, gen)
    x, y = space.prepare_batch(task, x, y, gen)
    loss_fn = space.loss_fn(task)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_networks):
        arch = space.random_arch(rng)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1_000_003 + i)
            net = space.build(arch, task)
        grads = sub_batch_grads(net, x, y, loss_fn, batches)
        rows.append(bin_profile(log_sigma_profile(grads, sigma, eps)))
        if progress:
            progress(1)
    table = np.vstack(rows)
    counts = (~np.isnan(table)).sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins stay NaN
        mean, std = np.nanmean(table, axis=0), np.nanstd(table, axis=0)
    std = np.where(counts >= 2, std, np.nan)
    p_lo, p_hi = spike_band(std, threshold)
    entry = {
        "space": space.name,
        "task": task,
        "p_lo": p_lo,
        "p_hi": p_hi,
        "rule": f"bins with across-network std of mean log sigma > median + {threshold:g} x MAD; first..last",
        "n_networks": n_networks,
        "seed": seed,
        "batch_size": batch_size,
        "sigma": sigma,
        "eps": eps,
        "batches": batches,
        "images": images.name + (" (substitute)" if images.substitute else ""),
        "bin_mean": [float(v) for v in mean],
        "bin_std": [float(v) for v in std],
        "bin_networks": [int(v) for v in counts],
    }
    if band_file is not None:
        write_band(entry, user_band_file() if band_file == "user" else Path(band_file))
    return entry
