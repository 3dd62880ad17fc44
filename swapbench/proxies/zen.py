"""`zen` (Zen-NAS, Lin et al., ICCV 2021; NASLib measures/zen.py after idstcv/ZenNAS; proxies.md 2.13).

Under no_grad, `repeat` times (NAS-Bench-Suite-Zero: 1):
(a) re-initialise the copy: Conv2d/Linear weights ~ N(0, 1), biases 0; BatchNorm2d/GroupNorm weight 1,
    bias 0 where affine;
(b) draw x1, x2 ~ N(0, I) with the shape of the data batch (no real data is used);
(c) F(.) = the input of the network's global AdaptiveAvgPool2d, recorded during a full forward;
(d) Delta = mean_n sum_chw |F(x1) - F(x1 + gamma x2)|, gamma = 1e-2;
(e) Z = log Delta + sum over BatchNorm2d layers of log sqrt(mean_c running_var).
The forwards run in train mode, so running_var is the momentum mix after two forwards (from 1), not the
batch variance; repeats keep mixing it, as the reference does. Score = mean of Z over repeats.
Randomness comes from the context's generator (the reference uses the global RNG).

BatchNorm layers with track_running_stats=False have no running_var (NASLib's zen then fails).
Option `untracked_bn`: "skip" (default: such layers add nothing to the BN term) or "batch_var" (use the
unbiased per-channel variance of the layer's input in the last forward, averaged over channels).
NB201 as built here tracks statistics in every BatchNorm, so the option does not matter there.
A network whose forward does not call exactly one AdaptiveAvgPool2d (TNB101's autoencoder/normal decoders
have none) cannot be scored, as in NASLib, whose forward_before_global_avg_pool asserts a single call: the
score is NaN (not applicable), shown as an empty cell, rather than an invented feature map.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from swapbench.errors import NotApplicable, SwapbenchError
from swapbench.nn.hooks import hooked_forward
from swapbench.proxies.registry import ProxyContext, proxy
from swapbench.proxies.swap import gaussian_init


def global_pools(net: nn.Module) -> list[nn.Module]:
    """The modules zen takes as the global average pool (an AdaptiveAvgPool2d, or flagged `global_pool`)."""
    return [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d) or getattr(m, "global_pool", False)]


def features_before_gap(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    captured: list[torch.Tensor] = []
    hooked_forward(net, global_pools(net), lambda _m, args, _out: captured.append(args[0]), x)
    if len(captured) != 1:
        raise NotApplicable(
            f"zen needs exactly one global average pool (AdaptiveAvgPool2d) call in the forward; "
            f"this network made {len(captured)}"
        )
    return captured[0]


@proxy(
    "zen",
    description="log feature change under a small Gaussian input perturbation + BN scaling (Zen-score)",
    reference="Lin et al., ICCV 2021; NASLib measures/zen.py (adapted from idstcv/ZenNAS)",
    data="shape",
    options={"repeat": 1, "gamma": 1e-2, "untracked_bn": "skip"},
    choices={"untracked_bn": ("skip", "batch_var")},
)
def zen(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    repeat, gamma, untracked = int(ctx.opt("repeat")), float(ctx.opt("gamma")), str(ctx.opt("untracked_bn"))
    if untracked not in ("skip", "batch_var"):
        raise SwapbenchError(f"zen: unknown untracked_bn '{untracked}' (use skip or batch_var)")
    if repeat < 1:
        raise SwapbenchError("zen: repeat must be >= 1")
    if not global_pools(net):  # no forward can call a global pool: not applicable, without the work
        raise NotApplicable("zen needs a global average pool (AdaptiveAvgPool2d); this network has none")
    gen = ctx.generator("zen", inputs.device)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    batch_var: dict[int, torch.Tensor] = {}

    def var_hook(module: nn.Module, args: tuple, _out: torch.Tensor) -> None:
        batch_var[id(module)] = args[0].detach().var(dim=(0, 2, 3), unbiased=True)

    handles = [m.register_forward_hook(var_hook) for m in bns if m.running_var is None]
    scores = []
    try:
        with torch.no_grad():
            for _ in range(repeat):
                gaussian_init(net, gen)
                x1 = torch.randn(inputs.shape, generator=gen, device=inputs.device, dtype=inputs.dtype)
                x2 = torch.randn(inputs.shape, generator=gen, device=inputs.device, dtype=inputs.dtype)
                f1 = features_before_gap(net, x1)
                f2 = features_before_gap(net, x1 + gamma * x2)
                delta = torch.sum(torch.abs(f1 - f2), dim=tuple(range(1, f1.dim()))).mean()
                bn_term = 0.0
                for m in bns:
                    if m.running_var is not None:
                        bn_term += float(torch.log(torch.sqrt(torch.mean(m.running_var))))
                    elif untracked == "batch_var" and id(m) in batch_var:
                        bn_term += float(torch.log(torch.sqrt(torch.mean(batch_var[id(m)]))))
                scores.append(float(torch.log(delta)) + bn_term)
    finally:
        for h in handles:
            h.remove()
    return math.fsum(scores) / len(scores)
