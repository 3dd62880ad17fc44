"""`grasp` (Wang et al., ICLR 2020; NASLib measures/grasp.py; proxies.md 2.2).

S = sum over Conv2d/Linear weights of -W * (H g), with g = dL/dW and H the Hessian of the task loss
with respect to all those weights jointly (temperature 1, one iteration). NASLib computes g in a first
forward/backward and then, in a second forward, the gradient again with a graph and back-propagates
z = sum_l <g_l, g_graph,l>, which leaves W.grad = H g. Both forwards are the same train-mode forward of
the same weights on the same batch, so here one forward serves both: the loss gradient is taken with a
graph (its values are the plain backward's), g is that gradient detached, and z is back-propagated from
the same graph. That forward and the loss gradient are shared with plain, grad_norm, snip, fisher and the
input Jacobian (pass 1 in swapbench.nn.passes); on a checkpointed network with a block chain the product is
taken one block at a time after that pass (swapbench.nn.blockwise), equal to float rounding. The leading
minus is NASLib's sign convention; layers without a gradient add 0.
"""

from __future__ import annotations

from swapbench.proxies._shared import backward_pass
from swapbench.proxies.registry import ProxyContext, proxy


@proxy(
    "grasp",
    description="-W * (Hessian x gradient) summed over conv/linear weights",
    reference="Wang et al., ICLR 2020; NASLib measures/grasp.py",
    needs_labels=True,
    needs_grad=True,
    copy_net=False,  # reads pass 1 only
)
def grasp(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    value = backward_pass(net, inputs, targets, loss_fn, ctx, "hvp").grasp
    assert value is not None
    return value
