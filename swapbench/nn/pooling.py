"""Pooling layers that compute the same values as torch's, through the faster CPU kernel.

On CPU, torch's channels-last pooling kernels run the forward of the small windows NAS cells use 2-5x
faster than the NCHW ones (`bench/pool_layout.py`), and they visit each window in the same order, so the
outputs are bit-identical (`tests/test_pooling.py`). They take that route only when no gradient is
recorded (SWAP's, zen's and the other forward-only passes): their backward is no faster, and under autograd
the extra layout-conversion nodes change the order in which a network's branch gradients are summed,
which moves gradient metrics at float-rounding level. Other devices use torch's own route. The classes
subclass torch's, so anything that inspects pooling modules still sees one.
"""

from __future__ import annotations

import torch
from torch import nn


def channels_last_route(x: torch.Tensor) -> bool:
    """True when a CPU batch of images is pooled without a gradient being recorded."""
    return x.device.type == "cpu" and x.dim() == 4 and not (torch.is_grad_enabled() and x.requires_grad)


class _ChannelsLastWithoutGrad:
    """The forward both pooling classes share; `super()` is the torch pooling class listed after it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if channels_last_route(x):
            return super().forward(x.contiguous(memory_format=torch.channels_last)).contiguous()
        return super().forward(x)


class AvgPool2d(_ChannelsLastWithoutGrad, nn.AvgPool2d):
    """nn.AvgPool2d with the CPU channels-last kernel when no gradient is recorded."""


class MaxPool2d(_ChannelsLastWithoutGrad, nn.MaxPool2d):
    """nn.MaxPool2d with the CPU channels-last kernel when no gradient is recorded."""
