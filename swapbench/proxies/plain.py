"""`plain` (Abdelfattah et al., ICLR 2021; NASLib measures/plain.py; proxies.md 2.1):
S = sum over Conv2d/Linear weights of dL/dW * W, signed (no absolute value; NAS-Bench-Suite-Zero keeps
the sign, so the metric correlates negatively with accuracy and is reported that way).
One forward/backward of the task loss, train-mode BatchNorm; the backward is shared (see grad_norm).
"""

from __future__ import annotations

from swapbench.nn.passes import layer_sum
from swapbench.proxies._shared import loss_pass
from swapbench.proxies.registry import ProxyContext, proxy


@proxy(
    "plain",
    description="sum of gradient x weight over conv/linear weights (signed)",
    reference="Abdelfattah et al., ICLR 2021; NASLib measures/plain.py",
    needs_labels=True,
    needs_grad=True,
    copy_net=False,  # reads shared passes (their own private copy) or the net as built
)
def plain(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    lp = loss_pass(net, inputs, targets, loss_fn, ctx)
    return layer_sum(g * w for g, w in zip(lp.grads, lp.weights, strict=True))
