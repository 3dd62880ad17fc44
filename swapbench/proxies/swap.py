"""SWAP-Score and regularised SWAP (Peng et al., ICLR 2024, Sec. 3.2-3.3).

Psi = number of distinct sample-wise activation patterns: for every post-ReLU unit of every 4-D
activation, the binary vector (1[a_s > 0])_{s=1..S} over the batch; averaged over `repeats` Gaussian
re-initialisations on the same batch (official code: 32 repeats, batch 16; default here 1, see below).
Regularised: Psi * f(Theta), Theta = #params (of executed modules) in millions (thousands on the official
one-cell DARTS network, `darts-swap`, as the official code counts), f in either form:
  paper (printed Eq. 5): exp(-((Theta - mu) / sigma)^2)
  code  (official):      exp(-(Theta - mu)^2 / sigma)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

from swapbench.errors import SwapbenchError
from swapbench.nn.counting import count_model
from swapbench.nn.hooks import SeenInputs, hooked_forward
from swapbench.nn.patterns import PatternCounter, distinct_rows, pack_samples
from swapbench.proxies.priors import reg_swap_prior
from swapbench.proxies.registry import ProxyContext, proxy

REFERENCE = "Peng et al., SWAP-NAS, ICLR 2024; official code pym1024/SWAP src/metrics/swap.py"


def gaussian_init(net: nn.Module, generator: torch.Generator | None = None) -> None:
    """The official re-initialisation: conv/linear weights N(0,1), biases 0, norm layers 1/0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 1.0, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            if m.weight is not None:  # affine-less BN has none (the official code would crash)
                nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count_patterns(
    net: nn.Module,
    inputs: torch.Tensor,
    modules: tuple[type[nn.Module], ...] = (nn.ReLU,),
    four_d_only: bool = True,
    accept: Callable[[int], bool] | None = None,
    sample_codes: list[torch.Tensor] | None = None,
) -> int:
    """One no-grad forward; Psi over the outputs of every matching activation call.

    `accept(i)` filters activation calls by their forward-order index i (used by L-SWAG's band).
    `sample_codes`, when given, receives each counted call's packed per-sample codes (the rows), for the
    standard activation-pattern count of the input-size ablation.
    A call whose input is a tensor already seen by the same activation type (e.g. two ReLU-conv edges
    reading one NB201 node) yields identical rows, which the count would collapse anyway: it is skipped.
    """
    counter = PatternCounter()
    calls = [0]
    seen = SeenInputs()

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        index = calls[0]
        calls[0] += 1
        x = args[0]
        if four_d_only and x.dim() != 4:
            return
        if accept is not None and not accept(index):
            return
        if seen.find(module, x)[0]:
            return
        seen.add(module, x)
        counter.add(output)
        if sample_codes is not None:
            sample_codes.append(pack_samples(output.detach().reshape(output.shape[0], -1) > 0))

    hooked_forward(net, [m for m in net.modules() if isinstance(m, modules)], hook, inputs)
    return counter.count()


def swap_per_repeat(net: nn.Module, inputs: torch.Tensor, repeats: int, init: str,
                    generator: torch.Generator | None = None) -> list[int]:
    """Psi for each repeat; with init='gaussian' each repeat re-draws the weights first."""
    if repeats < 1:
        raise SwapbenchError("swap: repeats must be >= 1")
    values = []
    for _ in range(repeats):
        if init == "gaussian":
            gaussian_init(net, generator)
        elif init != "default":
            raise SwapbenchError(f"swap: unknown init '{init}' (use gaussian or default)")
        values.append(count_patterns(net, inputs))
    return values


def swap_generator(ctx: ProxyContext, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator of the metric's Gaussian re-initialisations for ctx's (seed, architecture): with it
    `swap_per_repeat` draws what the metric draws, so the mean of its first R values is the score at
    repeats=R (how a sweep over R reuses one set of draws)."""
    return ctx.generator("swap-init", device)


def _pattern_means(net: nn.Module, inputs: torch.Tensor, ctx: ProxyContext, with_samples: bool
                   ) -> tuple[float, float | None]:
    """(mean Psi, mean |A| or None) over the repeats, from one forward per repeat on a private copy: |A|
    (the standard patterns, the distinct per-sample codes) is read from the same forward as Psi."""
    repeats, init = int(ctx.opt("repeats")), str(ctx.opt("init"))
    if repeats < 1:
        raise SwapbenchError("swap: repeats must be >= 1")
    if init not in ("gaussian", "default"):
        raise SwapbenchError(f"swap: unknown init '{init}' (use gaussian or default)")

    def compute() -> tuple[float, float | None]:
        gen = swap_generator(ctx, inputs.device) if init == "gaussian" else None
        own = copy.deepcopy(net).train()  # re-initialised in place: never the caller's network
        psi, std = [], []
        for _ in range(repeats):
            if init == "gaussian":
                gaussian_init(own, gen)
            codes: list[torch.Tensor] | None = [] if with_samples else None
            psi.append(count_patterns(own, inputs, sample_codes=codes))
            if codes is not None:
                std.append(distinct_rows(torch.cat(codes, dim=1)) if codes else 0)
        return sum(psi) / repeats, (sum(std) / repeats if with_samples else None)

    return ctx.shared(("swap_patterns", repeats, init, with_samples), compute)


def _psi(net: nn.Module, inputs: torch.Tensor, ctx: ProxyContext) -> float:
    # when |A| is scored on this memo too, one forward serves both
    with_samples = any(name.split("@")[0] == "std_patterns" for name in ctx.planned)
    return _pattern_means(net, inputs, ctx, with_samples)[0]


def regulariser(theta: float, mu: float, sigma: float, form: str) -> float:
    if sigma <= 0:
        raise SwapbenchError("reg_swap: sigma must be > 0")
    if form == "paper":
        return math.exp(-(((theta - mu) / sigma) ** 2))
    if form == "code":
        return math.exp(-((theta - mu) ** 2) / sigma)
    raise SwapbenchError(f"reg_swap: unknown form '{form}' (use paper or code)")


def parameter_millions(net: nn.Module) -> float:
    """Theta as the official code counts it (all parameters but an auxiliary head), in millions."""
    return sum(p.numel() for n, p in net.named_parameters() if "auxiliary" not in n) / 1e6


def _theta(net: nn.Module, ctx: ProxyContext) -> float:
    """Model size as the benchmark tables count it: parameters of the modules a forward executes (a
    module that is built but never run, like TNB101's discriminator, is not part of the model)."""
    if ctx.space is None:
        return parameter_millions(net)
    shape = ctx.space.task(ctx.task).input_shape
    unit = getattr(ctx.space, "size_unit", 1e6)  # millions, or thousands on the one-cell DARTS network
    return count_model(net, shape, generator=torch.Generator().manual_seed(0)).params / unit


# repeats=1: at batch 64 on full-size NB201 networks the mean over 32 re-initialisations ranks
# architectures like a single draw (label-free Spearman 0.999, bench/sweep_swap.py); --repeats 32 is the
# official code's setting (at batch 16).
_SWAP_OPTIONS = {"repeats": 1, "init": "gaussian"}
_SWAP_CHOICES = {"init": ("gaussian", "default")}


def pattern_ceiling(batch_size: int, options: object = None) -> float:
    """Psi <= 2^S: S images give at most 2^S distinct unit patterns (the exponent is capped where a float
    would overflow; no network gets near it)."""
    return 2.0 ** min(batch_size, 1023)


@proxy(
    "swap",
    description="sample-wise activation patterns: distinct post-ReLU unit patterns over the batch",
    reference=REFERENCE,
    options=dict(_SWAP_OPTIONS),
    choices=dict(_SWAP_CHOICES),
    copy_net=False,  # Psi runs on its own copy; Theta is an eval forward that restores the modes
    ceiling=pattern_ceiling,
)
def swap(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    return _psi(net, inputs, ctx)


@proxy(
    "std_patterns",
    description="standard activation patterns |A| (Def. 3.1): distinct per-sample codes over all post-ReLU units",
    reference=REFERENCE,
    options=dict(_SWAP_OPTIONS),
    choices=dict(_SWAP_CHOICES),
    copy_net=False,  # counted on the private copy SWAP's count uses, in the same forward
    ceiling=lambda batch_size, options: float(batch_size),  # one code per sample
)
def std_patterns(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    """At most the batch size; the paper's Table 3 contrasts it with SWAP at several input sizes."""
    return _pattern_means(net, inputs, ctx, True)[1]


@proxy(
    "reg_swap",
    description="SWAP x f(#params): bell-shaped size regulariser (mu, sigma in millions)",
    reference=REFERENCE,
    options={**_SWAP_OPTIONS, "mu": None, "sigma": None, "form": "paper"},
    choices={**_SWAP_CHOICES, "form": ("paper", "code")},
    copy_net=False,  # Psi runs on its own copy; Theta is an eval forward that restores the modes
)
def reg_swap(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    mu, sigma = ctx.opt("mu"), ctx.opt("sigma")
    default = reg_swap_prior(ctx.space, ctx.task) if ctx.space is not None else None
    mu = default if mu is None else mu
    sigma = default if sigma is None else sigma
    if mu is None or sigma is None:
        raise SwapbenchError("reg_swap: this space has no default mu/sigma; pass --option reg_swap.mu=...")
    theta = ctx.shared("executed_params_m", lambda: _theta(net, ctx))
    return _psi(net, inputs, ctx) * regulariser(theta, float(mu), float(sigma), str(ctx.opt("form")))
