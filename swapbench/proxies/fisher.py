"""`fisher` (Turner et al., BlockSwap, ICLR 2020; NASLib measures/fisher.py; proxies.md 2.3).

For every Conv2d/Linear layer with raw output a (before any BatchNorm) and delta = dL/da:
s_nk = sum over spatial positions of a_nk * delta_nk, F_k = 1/2 mean_n s_nk^2 (summed over calls), and
the layer's per-weight array is |F_k| broadcast over the weights of output channel k. NAS-Bench-Suite-Zero
sums that array, so S = sum_l sum_k |F_lk| * prod(weight.shape[1:]): the fan-in factor from the broadcast
is part of the reference number and is kept. An unused layer adds 0.

Deviation that cannot change standard spaces: NASLib keeps only the last activation of a layer and fails
if a layer runs twice in one forward; here each call is paired with its own gradient and the calls' F are
summed. The activations come from the backward shared with grad_norm/plain/snip (same forward, same loss).
"""

from __future__ import annotations

import math

from swapbench.proxies._shared import loss_pass
from swapbench.proxies.registry import ProxyContext, proxy


@proxy(
    "fisher",
    description="channel-wise Fisher information of the layer outputs, broadcast over each channel's weights",
    reference="Turner et al., ICLR 2020; NASLib measures/fisher.py",
    needs_labels=True,
    needs_grad=True,
    copy_net=False,  # reads shared passes (their own private copy) or the net as built
)
def fisher(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    lp = loss_pass(net, inputs, targets, loss_fn, ctx)
    total = 0.0
    for f, w in zip(lp.fisher, lp.weights, strict=True):
        total += float(f.abs().sum()) * math.prod(w.shape[1:])
    return total
