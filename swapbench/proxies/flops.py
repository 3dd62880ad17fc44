"""`flops`: torchstat FLOPs in millions for batch 1 (proxies.md 2.9, spaces.md 5.4): the per-leaf
formulas of tensorwatch 0.9.1 (multiply-accumulate style, no factor 2) summed over the leaf modules
executed in one eval forward of a U[0,1) input; a leaf called several times keeps its last call.
Element-wise adds, concatenations and skip connections count 0. Shares its forward with `params`.
"""

from __future__ import annotations

from swapbench.proxies.params import shared_counts
from swapbench.proxies.registry import ProxyContext, proxy


@proxy(
    "flops",
    description="torchstat FLOPs (millions) of a batch-1 eval forward, executed leaf modules only",
    reference="NAS-Bench-Suite-Zero baseline; tensorwatch 0.9.1 torchstat compute_flops / 1e6",
    data="shape",
    copy_net=False,  # reads shared passes (their own private copy) or the net as built
)
def flops(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    return shared_counts(net, inputs, ctx).flops / 1e6
