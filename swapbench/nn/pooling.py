"""Pooling layers that compute the same values as torch's, through the faster CPU kernel.

On CPU, torch's channels-last pooling kernels run the forward of the small windows NAS cells use 2-5x
faster than the NCHW ones (`bench/pool_layout.py`), and they visit each window in the same order, so
outputs and gradients are bit-identical (`tests/test_pooling.py`). Their backward is not faster, so only
the 3x3 stride-1 average pool (NB201's op, whose double backward in GraSP is another pooling forward)
takes that route under autograd; the others take it when no gradient is recorded (SWAP, zen, nwot's
forwards). Other devices use torch's own route. The classes subclass torch's, so anything that inspects
pooling modules still sees one.
"""

from __future__ import annotations

import torch
from torch import nn


def _channels_last_route(x: torch.Tensor, always: bool) -> bool:
    if x.device.type != "cpu" or x.dim() != 4:
        return False
    return always or not (torch.is_grad_enabled() and x.requires_grad)


def _through_channels_last(pool: nn.Module, forward, x: torch.Tensor) -> torch.Tensor:
    return forward(pool, x.contiguous(memory_format=torch.channels_last)).contiguous()


class AvgPool2d(nn.AvgPool2d):
    """nn.AvgPool2d with the CPU channels-last kernel (always at stride 1, else when no gradient is needed)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.stride if isinstance(self.stride, int) else max(self.stride)
        if _channels_last_route(x, always=stride == 1):
            return _through_channels_last(self, nn.AvgPool2d.forward, x)
        return super().forward(x)


class MaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d with the CPU channels-last kernel when no gradient is needed."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _channels_last_route(x, always=False):
            return _through_channels_last(self, nn.MaxPool2d.forward, x)
        return super().forward(x)
