"""The pooling layers of swapbench.nn.pooling give torch's values, gradients and second-order gradients bit for
bit on every pooling configuration the spaces build, with and without autograd, and inside a network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from swapbench.nn import pooling

CONFIGS = [  # (ours, torch's, input shape): NB201, NB301 (stride 1 and 2), NB101
    (pooling.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
     nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), (4, 5, 9, 9)),
    (pooling.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
     nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (4, 5, 9, 9)),
    (pooling.AvgPool2d(2, stride=2), nn.AvgPool2d(2, stride=2), (4, 5, 8, 8)),
    (pooling.MaxPool2d(3, stride=1, padding=1), nn.MaxPool2d(3, stride=1, padding=1), (4, 5, 9, 9)),
    (pooling.MaxPool2d(3, stride=2, padding=1), nn.MaxPool2d(3, stride=2, padding=1), (4, 5, 9, 9)),
    (pooling.MaxPool2d(2, stride=2), nn.MaxPool2d(2, stride=2), (4, 5, 8, 8)),
]


@pytest.mark.parametrize("ours,theirs,shape", CONFIGS)
def test_forward_bit_identical_without_autograd(ours, theirs, shape):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert pooling.channels_last_route(x)  # the channels-last route is the one compared
        assert torch.equal(ours(x), theirs(x))
        assert ours(x).is_contiguous()  # callers see NCHW as before


@pytest.mark.parametrize("ours,theirs,shape", CONFIGS)
def test_gradients_bit_identical(ours, theirs, shape):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(*shape, generator=gen, dtype=torch.float64)
    w = torch.randn(*theirs(x).shape, generator=gen, dtype=torch.float64)
    results = []
    for pool in (ours, theirs):
        xr = x.clone().requires_grad_()
        y = pool(xr)
        (g,) = torch.autograd.grad((y * y * w).sum(), xr, create_graph=True)  # GraSP's second order
        (h,) = torch.autograd.grad((g * g).sum(), xr)
        results.append((y.detach(), g.detach(), h))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


def test_autograd_keeps_torch_route():
    # under autograd the layout-conversion nodes would reorder the summing of branch gradients (rounding)
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    assert not pooling.channels_last_route(x)
    assert pooling.channels_last_route(x.detach())
    with torch.no_grad():
        assert pooling.channels_last_route(x)
    assert not pooling.channels_last_route(x.detach()[0])  # not a batch of images


def test_subclasses_keep_torch_identity():
    # FLOP counting and zen's pool lookup inspect modules by torch type
    assert isinstance(pooling.AvgPool2d(3), nn.AvgPool2d) and isinstance(pooling.MaxPool2d(3), nn.MaxPool2d)
