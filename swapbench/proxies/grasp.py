"""`grasp` (Wang et al., ICLR 2020; NASLib measures/grasp.py; proxies.md 2.2).

S = sum over Conv2d/Linear weights of -W * (H g), with g = dL/dW and H the Hessian of the task loss
with respect to all those weights jointly (temperature 1, one iteration). Pass 1 gives g as a constant;
pass 2 recomputes the gradient with a graph and back-propagates z = sum_l <g_l, g_f,l>, which leaves
W.grad = H g. The leading minus is NASLib's sign convention. Pass 1 is the shared task-loss backward
(the same gradient NASLib obtains with autograd.grad); layers without a gradient add 0.
"""

from __future__ import annotations

import torch

from swapbench.proxies._common import first_tensor, layer_sum, loss_pass, weight_layers
from swapbench.proxies.registry import ProxyContext, proxy


@proxy(
    "grasp",
    description="-W * (Hessian x gradient) summed over conv/linear weights",
    reference="Wang et al., ICLR 2020; NASLib measures/grasp.py",
    needs_labels=True,
    needs_grad=True,
)
def grasp(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    first = loss_pass(net, inputs, targets, loss_fn, ctx).grads
    layers = weight_layers(net)
    weights = [m.weight for m in layers]
    for w in weights:  # NASLib sets requires_grad on every weight; a spectral-norm conv that never ran
        if not w.requires_grad and w.is_leaf:  # (TNB101's discriminator) holds a plain tensor here
            w.requires_grad_(True)
    net.zero_grad(set_to_none=True)
    loss = loss_fn(first_tensor(net(inputs)), targets)
    second = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
    z = None
    for g_const, g_graph in zip(first, second, strict=True):
        if g_graph is not None:
            term = (g_const * g_graph).sum()
            z = term if z is None else z + term
    if z is None or not z.requires_grad:
        return 0.0
    z.backward()
    return layer_sum([
        -m.weight.detach() * m.weight.grad if m.weight.grad is not None else torch.zeros_like(m.weight)
        for m in layers
    ])
