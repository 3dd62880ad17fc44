"""`zico` (Li et al., ICLR 2023; official SLDGroup/ZiCo ZeroShotProxy/compute_zico.py; proxies.md 2.14).

B mini-batches (default 2: the batch is split into two equal halves), task loss, train mode, default
init. For every Conv2d/Linear weight element w, G_wb is its recorded gradient after batch b;
sigma_w = std_b G_wb (population, ddof 0) and mu_w = mean_b |G_wb|. Layer term
T_l = log(sum over w with sigma_w != 0 of mu_w / sigma_w), skipped when that sum is 0; ZiCo = sum_l T_l.

Per-batch gradients by default, as the official code does since its Feb 2023 version (it zeroes the
gradients before each batch). `cumulative=True` is the variant of the code's first commit, which never zeroed
them, so the recorded G are cumulative (g1, g1+g2, ...); with B = 2, sigma_w = |g2|/2 and
mu_w = (|g1| + |g1+g2|)/2, the running sum taken in float32 exactly as autograd accumulates it. The
per-sub-batch gradients are shared with lswag.
"""

from __future__ import annotations

import math

import torch

from swapbench.errors import SwapbenchError
from swapbench.proxies._shared import population_std, split_grads
from swapbench.proxies.registry import ProxyContext, proxy


def zico_score(per_layer: list[torch.Tensor], cumulative: bool) -> float:
    total = 0.0
    for g in per_layer:
        if cumulative:
            g = torch.cumsum(g, dim=0)  # float32, as .grad accumulates
        g = g.double()
        sigma = population_std(g)
        mu = g.abs().mean(dim=0)
        keep = sigma != 0
        s = float((mu[keep] / sigma[keep]).sum())
        if s != 0:
            total += math.log(s)
    return total


@proxy(
    "zico",
    description="sum over layers of log sum(mean|grad| / std grad) across mini-batches (ZiCo)",
    reference="Li et al., ICLR 2023; SLDGroup/ZiCo compute_zico.py",
    needs_labels=True,
    needs_grad=True,
    options={"batches": 2, "cumulative": False},
    copy_net=False,  # reads shared passes (their own private copy) or the net as built
)
def zico(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    batches = int(ctx.opt("batches"))
    if batches < 2 or batches > inputs.shape[0]:
        raise SwapbenchError(f"zico: batches must be between 2 and the batch size (got {batches})")
    return zico_score(split_grads(net, inputs, targets, loss_fn, ctx, batches), bool(ctx.opt("cumulative")))
