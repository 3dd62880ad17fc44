"""`l2_norm` (NAS-Bench-Suite-Zero baseline, NASLib measures/l2_norm.py; proxies.md 2.7):
S = sum over Conv2d/Linear layers of the Frobenius norm of the weight, at initialisation. No data.
Runs on the original network (copy_net=False), as NASLib does; it only reads the weights.
"""

from __future__ import annotations

from swapbench.nn.passes import layer_sum, weight_layers
from swapbench.proxies.registry import ProxyContext, proxy


@proxy(
    "l2_norm",
    description="sum over conv/linear layers of the Frobenius norm of the initial weights",
    reference="NAS-Bench-Suite-Zero baseline (NASLib measures/l2_norm.py)",
    copy_net=False,
    data="none",
)
def l2_norm(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    return layer_sum([m.weight.detach().norm() for m in weight_layers(net)])
