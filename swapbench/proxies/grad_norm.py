"""`grad_norm` (Abdelfattah et al., ICLR 2021; NASLib measures/grad_norm.py; proxies.md 2.4):
S = sum over Conv2d/Linear layers of ||dL/dW_l||_F (per-layer norm, summed; not the global norm).
One forward/backward of the task loss on the batch, train-mode BatchNorm. Unused layers add 0.
The backward is shared with plain, snip, fisher and grasp (identical gradients on identical copies).
"""

from __future__ import annotations

from swapbench.nn.passes import layer_sum
from swapbench.proxies._shared import loss_pass
from swapbench.proxies.registry import ProxyContext, proxy


@proxy(
    "grad_norm",
    description="sum over conv/linear layers of the Frobenius norm of the loss gradient",
    reference="Abdelfattah et al., ICLR 2021; NASLib measures/grad_norm.py",
    needs_labels=True,
    needs_grad=True,
    copy_net=False,  # reads shared passes (their own private copy) or the net as built
)
def grad_norm(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    return layer_sum([g.norm() for g in loss_pass(net, inputs, targets, loss_fn, ctx).grads])
