"""`zico` (Li et al., ICLR 2023; official SLDGroup/ZiCo ZeroShotProxy/compute_zico.py; proxies.md 2.14).

B mini-batches (default 2: the batch is split into two equal halves), task loss, train mode, default
init. For every Conv2d/Linear weight element w, G_wb is its recorded gradient after batch b;
sigma_w = std_b G_wb (population, ddof 0) and mu_w = mean_b |G_wb|. Layer term
T_l = log(sum over w with sigma_w != 0 of mu_w / sigma_w), skipped when that sum is 0; ZiCo = sum_l T_l.

Reference quirk kept by default (`cumulative=True`): the official loop never zeroes gradients between
batches, so the recorded G are cumulative (g1, g1+g2, ...); with B = 2, sigma_w = |g2|/2 and
mu_w = (|g1| + |g1+g2|)/2. The running sum is taken in float32 exactly as autograd accumulates it.
`cumulative=False` uses the per-batch gradients (the paper's intent). The per-sub-batch gradients are
shared with lswag.
"""

from __future__ import annotations

import math

import torch

from swapbench.errors import SwapbenchError
from swapbench.proxies._common import population_std, split_grads
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
    options={"batches": 2, "cumulative": True},
    copy_net=False,  # reads shared passes (their own private copy) or the net as built
)
def zico(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    batches = int(ctx.opt("batches"))
    if batches < 2 or batches > inputs.shape[0]:
        raise SwapbenchError(f"zico: batches must be between 2 and the batch size (got {batches})")
    return zico_score(split_grads(net, inputs, targets, loss_fn, ctx, batches), bool(ctx.opt("cumulative")))
