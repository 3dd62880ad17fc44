"""`nwot` (NASWOT v2, Mellor et al., ICML 2021; NASLib measures/nwot.py; proxies.md 2.11).

For every call of a module whose class name contains "ReLU" (every call, 2-D inputs included), binarise
its input per sample, c = 1[u > 0] (N x M), and accumulate K += c c^T + (1-c)(1-c)^T, i.e.
K_ij = sum over layers of M - Hamming(c_i, c_j), in float64. S = log|det K| (slogdet; sign ignored).
One no-grad train-mode forward, labels unused. A singular K gives -inf -> -1e8.
NASLib skips its own classes (their names such as ReLUConvBN contain "ReLU" and would double-count);
here classes defined by this project are skipped the same way. The forward is shared with num_lr and
lswag (same network, same batch, no gradient).
"""

from __future__ import annotations

import numpy as np
import torch

from swapbench.nn.patterns import unpack_samples
from swapbench.proxies._shared import activation_calls
from swapbench.proxies.registry import ProxyContext, proxy


def code_kernel(c: torch.Tensor) -> torch.Tensor:
    """c c^T + (1-c)(1-c)^T for one binary (N x M) code matrix, in float64."""
    c32 = c.to(torch.float32)
    both = (c32 @ c32.t()).double()  # exact: integer counts below 2^24
    ones = c32.sum(dim=1).double()
    return 2 * both - ones[:, None] - ones[None, :] + float(c.shape[1])


def hamming_kernel(codes: list[torch.Tensor]) -> np.ndarray:
    """K = sum_l [c c^T + (1-c)(1-c)^T] for binary (N x M_l) codes."""
    n = codes[0].shape[0] if codes else 0
    k = torch.zeros((n, n), dtype=torch.float64)
    for c in codes:
        k += code_kernel(c)
    return k.numpy()


@proxy(
    "nwot",
    description="log|det| of the binary-code Hamming kernel of ReLU inputs (NASWOT)",
    reference="Mellor et al., ICML 2021; NASLib measures/nwot.py",
    copy_net=False,  # reads shared passes (their own private copy) or the net as built
)
def nwot(net, inputs, targets, loss_fn, ctx: ProxyContext) -> float:
    calls = [c for c in activation_calls(net, inputs, targets, loss_fn, ctx) if c.relu_named]
    if not calls:
        return float("-inf")
    n = calls[0].bits.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64)
    per_bits: dict[int, torch.Tensor] = {}  # a repeated input (same bits) contributes again, computed once
    for c in calls:
        if id(c.bits) not in per_bits:
            per_bits[id(c.bits)] = code_kernel(unpack_samples(c.bits, c.units).cpu())
        kernel += per_bits[id(c.bits)]
    return float(np.linalg.slogdet(kernel.numpy())[1])
