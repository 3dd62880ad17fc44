"""`synflow` (Tanaka et al., NeurIPS 2020; NASLib measures/synflow.py with bn=False; proxies.md 2.6).

On the copy with every BatchNorm bypassed (the harness's bn=False): convert to float64, replace every
state_dict tensor by its absolute value, feed one all-ones input of shape [1, *sample shape], back-propagate
R = sum(output), and sum |W * dR/dW| over Conv2d/Linear weights. No data, no labels.
Post-processing as NAS-Bench-Suite-Zero's ZeroCost predictor does, in this order: NaN/inf -> -1e8, then
0 stays 0, s > 0 -> log(s), s < 0 -> -log(-s) (so an overflowed network scores about -18.42).
"""

from __future__ import annotations

import math

import torch

from swapbench.nn.passes import first_tensor, layer_sum, weight_layers
from swapbench.proxies.registry import FAILED, ProxyContext, proxy


def log_transform(score: float) -> float:
    """NAS-Bench-Suite-Zero's synflow post-processing (NaN/inf first become -1e8)."""
    if math.isnan(score) or math.isinf(score):
        score = FAILED
    if score == 0:
        return 0.0
    return math.log(score) if score > 0 else -math.log(-score)


@proxy(
    "synflow",
    description="log sum |W * dR/dW|, R = summed output of the |weights| float64 net on an all-ones input",
    reference="Tanaka et al., NeurIPS 2020; NASLib measures/synflow.py (bn=False) + zerocost.py log",
    needs_grad=True,
    bn=False,
    data="shape",
)
def synflow(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    net.double()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            tensor.abs_()
    net.zero_grad(set_to_none=True)
    ones = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=inputs.device)
    torch.sum(first_tensor(net(ones))).backward()
    score = layer_sum(
        (m.weight * m.weight.grad).abs() if m.weight.grad is not None else torch.zeros_like(m.weight)
        for m in weight_layers(net)
    )
    return log_transform(score)
