"""`num_lr`: number of linear regions, TE-NAS style (Chen et al., ICLR 2021; VITA-Group/TENAS
lib/procedures/linear_region_counter.py; proxies.md 2.15).

Hook every nn.ReLU whose input is 4-D, binarise its output (sign, i.e. 1[a > 0]), flatten each sample and
concatenate over calls: one activation code per sample. num_lr = number of distinct codes among the S
samples (TE-NAS computes it as sum_s 1/c_s with c_s the multiplicity of s's code: the same number).
Forward only, no gradient, train-mode BatchNorm, labels unused.

Option `variant`:
- "batch" (default): the S images of the metric's batch through the space's network, i.e. the same input
  as every other metric. With 32x32 images almost every network reaches S (saturation, massive ties):
  that is the behaviour SWAP-NAS's comparison reports for num_lr (Spearman about 0 to 0.07), and the
  default because it runs unchanged on every space and is what those tables compare against.
- "tenas": TE-NAS's protocol (prune_tenas.py, Linear_Region_Collector): `sample_batches` (3) batches of
  `samples` (1000) single-channel `crop` x `crop` (3) crops, each from a random image, position and colour
  channel of the metric's batch (RandChannel), through the space's "thin" network (C=1, one cell per stage,
  no stem; spaces with `build_thin`, the `ThinNetworks` capability: NB201 only). The count is taken over all
  3000 samples, `repeats` (3) times, each repeat on a thin network with the modules' default
  initialisation (TE-NAS requests Kaiming, but a misspelt init name makes that a no-op) from a seed of
  (seed, arch); mean over repeats. Spaces without a thin network refuse it (use "tenas-full").
- "tenas-full": the same sampling on the space's full network, with crops keeping every input channel
  (the stem expects them); the first repeat uses the network as built. If the network rejects `crop`-sized
  inputs, the smallest larger size it accepts is used.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Hashable
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from swapbench.errors import SwapbenchError
from swapbench.nn.hooks import hooked_forward
from swapbench.nn.patterns import distinct_rows, pack_samples
from swapbench.proxies._shared import activation_calls
from swapbench.proxies.registry import ProxyContext, proxy


def sample_codes(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(S, bytes) packed codes over the outputs of every nn.ReLU call with a 4-D input."""
    parts: list[torch.Tensor] = []

    def hook(_m: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if args[0].dim() == 4:
            parts.append(pack_samples(output.detach().reshape(output.shape[0], -1) > 0))

    hooked_forward(net, [m for m in net.modules() if isinstance(m, nn.ReLU)], hook, x)
    if not parts:
        return torch.zeros((x.shape[0], 0), dtype=torch.uint8, device=x.device)
    return torch.cat(parts, dim=1)


def random_crops(images: torch.Tensor, count: int, size: int, gen: torch.Generator) -> torch.Tensor:
    n, _, h, w = images.shape
    pick = torch.randint(0, n, (count,), generator=gen, device=gen.device)
    ys = torch.randint(0, h - size + 1, (count,), generator=gen, device=gen.device)
    xs = torch.randint(0, w - size + 1, (count,), generator=gen, device=gen.device)
    offs = torch.arange(size, device=images.device)
    rows = (ys.to(images.device)[:, None] + offs)[:, :, None]  # (count, size, 1)
    cols = (xs.to(images.device)[:, None] + offs)[:, None, :]  # (count, 1, size)
    chosen = images[pick.to(images.device)]  # (count, C, H, W)
    batch = torch.arange(count, device=images.device)[:, None, None]
    return chosen.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def accepted_crop(net: nn.Module, images: torch.Tensor, start: int) -> int:
    """The smallest size >= start whose crops the network can process (TE-NAS uses 3)."""
    h, w = images.shape[-2:]
    for size in range(start, min(h, w) + 1):
        try:
            with torch.no_grad():
                net(images[:2, :, :size, :size])
            return size
        except RuntimeError:
            continue
    raise SwapbenchError(f"num_lr: the network accepts no crop size between {start} and {min(h, w)}")


def reset_default_init(net: nn.Module, seed: int) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in net.modules():
            if hasattr(m, "reset_parameters") and callable(m.reset_parameters):
                m.reset_parameters()


def single_channel(crops: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """TE-NAS's RandChannel(1): each sample keeps one of its colour channels, drawn at random."""
    pick = torch.randint(0, crops.shape[1], (crops.shape[0],), generator=gen, device=gen.device).to(crops.device)
    return crops[torch.arange(crops.shape[0], device=crops.device), pick][:, None]


@runtime_checkable
class ThinNetworks(Protocol):
    """A space with TE-NAS's "thin" network for counting linear regions (one channel, one cell per stage, no
    stem), which num_lr's `tenas` variant scores. Optional."""

    def build_thin(self, arch: Hashable, task: str) -> nn.Module:
        ...


def thin_network(ctx: ProxyContext, seed: int, device: torch.device) -> nn.Module:
    if not isinstance(ctx.space, ThinNetworks):
        raise SwapbenchError(f"num_lr: space '{ctx.space.name}' has no thin TE-NAS network; "
                             "use the option num_lr.variant=tenas-full")
    arch = ctx.space.parse(ctx.arch_key)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ctx.space.build_thin(arch, ctx.task)
    return net.to(device).train()


def tenas_count(net: nn.Module, images: torch.Tensor, ctx: ProxyContext, thin: bool) -> float:
    samples, batches = int(ctx.opt("samples")), int(ctx.opt("sample_batches"))
    repeats, crop = int(ctx.opt("repeats")), int(ctx.opt("crop"))
    if min(samples, batches, repeats, crop) < 1:
        raise SwapbenchError("num_lr: samples, sample_batches, repeats and crop must be >= 1")
    gen = ctx.generator("num_lr", images.device)
    if not thin:
        net = copy.deepcopy(net).train()  # repeats after the first re-initialise it in place
    counts = []
    for r in range(repeats):
        seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
        if thin:
            net = thin_network(ctx, seed, images.device)
            size = crop
        else:
            if r > 0:
                reset_default_init(net, seed)
            size = accepted_crop(net, images, crop)
        codes = []
        for _ in range(batches):
            x = random_crops(images, samples, size, gen)
            codes.append(sample_codes(net, single_channel(x, gen) if thin else x))
        counts.append(distinct_rows(torch.cat(codes, dim=0)))
    return math.fsum(counts) / len(counts)


@proxy(
    "num_lr",
    description="number of distinct per-sample ReLU activation codes (linear regions, TE-NAS)",
    reference="Chen et al., ICLR 2021; VITA-Group/TENAS linear_region_counter.py",
    options={"variant": "batch", "samples": 1000, "sample_batches": 3, "crop": 3, "repeats": 3},
    choices={"variant": ("batch", "tenas", "tenas-full")},
    # one code per sample: the batch, or the TE-NAS crops
    ceiling=lambda batch_size, o: float(batch_size if o["variant"] == "batch" else o["samples"] * o["sample_batches"]),
    copy_net=False,  # the batch variant reads the shared forward; tenas-full copies the net itself
)
def num_lr(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    variant = str(ctx.opt("variant"))
    if variant == "batch":
        # a repeated input adds identical columns, which cannot change how many rows are distinct
        calls = [c for c in activation_calls(net, inputs, targets, loss_fn, ctx)
                 if c.relu and c.dim == 4 and not c.duplicate]
        if not calls:
            return 0.0
        return float(distinct_rows(torch.cat([c.bits for c in calls], dim=1)))
    if variant in ("tenas", "tenas-full"):
        if inputs.dim() != 4:
            raise SwapbenchError(f"num_lr: the {variant} variant needs image batches (N, C, H, W)")
        return tenas_count(net, inputs, ctx, thin=variant == "tenas")
    raise SwapbenchError(f"num_lr: unknown variant '{variant}' (use batch, tenas or tenas-full)")
