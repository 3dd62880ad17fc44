"""`snip` (Lee et al., ICLR 2019; NASLib measures/snip.py; proxies.md 2.5):
S = sum over Conv2d/Linear weights of |dL/dc| at c = 1 for the mask W*c, which is |W * dL/dW|
element-wise (absolute value before the sum). NASLib gets it from a ones mask; the gradient with respect
to that mask is the same product of the same float32 numbers, so the shared backward (see grad_norm)
gives identical values.
"""

from __future__ import annotations

from swapbench.nn.passes import layer_sum
from swapbench.proxies._shared import loss_pass
from swapbench.proxies.registry import ProxyContext, proxy


@proxy(
    "snip",
    description="sum of |weight x gradient| over conv/linear weights (connection sensitivity)",
    reference="Lee et al., ICLR 2019; NASLib measures/snip.py",
    needs_labels=True,
    needs_grad=True,
    copy_net=False,  # reads shared passes (their own private copy) or the net as built
)
def snip(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    lp = loss_pass(net, inputs, targets, loss_fn, ctx)
    return layer_sum((w * g).abs() for g, w in zip(lp.grads, lp.weights, strict=True))
