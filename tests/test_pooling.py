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
    # the stride-1 same-size route at other kernels, divisors, wider channel vectors and tiny images
    (pooling.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
     nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), (3, 70, 6, 7)),
    (pooling.AvgPool2d(3, stride=1, padding=1), nn.AvgPool2d(3, stride=1, padding=1), (4, 5, 9, 9)),
    (pooling.AvgPool2d(5, stride=1, padding=2, count_include_pad=False),
     nn.AvgPool2d(5, stride=1, padding=2, count_include_pad=False), (2, 3, 7, 6)),
    (pooling.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
     nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), (2, 3, 1, 2)),
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


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ours,theirs,shape", CONFIGS)
def test_gradients_bit_identical(ours, theirs, shape, dtype):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(*shape, generator=gen, dtype=dtype)
    w = torch.randn(*theirs(x).shape, generator=gen, dtype=dtype)
    results = []
    for pool in (ours, theirs):
        xr = x.clone().requires_grad_()
        y = pool(xr)
        (g,) = torch.autograd.grad((y * y * w).sum(), xr, create_graph=True)  # GraSP's second order
        (h,) = torch.autograd.grad((g * g).sum(), xr)
        results.append((y.detach(), g.detach(), h))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


def test_same_size_average_pool_is_one_node_of_its_own_under_autograd():
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    same = pooling.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    assert type(same(x).grad_fn).__name__ == "_SamePoolBackward"
    (g,) = torch.autograd.grad(same(x).pow(2).sum(), x, create_graph=True)
    assert type(g.grad_fn).__name__ == "_SamePoolTBackward"  # second order stays on the fast route
    assert type(pooling.MaxPool2d(3, stride=1, padding=1)(x).grad_fn).__name__ == "_SameMaxPoolBackward"
    for other in (pooling.AvgPool2d(3, stride=2, padding=1), pooling.AvgPool2d(2, stride=2),
                  pooling.AvgPool2d(3, stride=1, padding=0), pooling.MaxPool2d(3, stride=2, padding=1),
                  pooling.MaxPool2d(2, stride=2)):
        assert not type(other(x).grad_fn).__name__.startswith("_Same")  # torch's own node
    half = torch.randn(2, 3, 5, 5, dtype=torch.bfloat16, requires_grad=True)
    assert type(same(half).grad_fn).__name__ == "AvgPool2DBackward0"  # reduced precision: torch's route


def test_max_pool_ties_pick_torch_argmax_under_autograd():
    # after a ReLU most windows are all zeros: the gradient goes to the input torch's kernel picks
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(3, 70, 9, 9, generator=gen).relu()
    x[0, 0, 2:5, 2:5] = 1.0  # a tie at a positive value too
    w = torch.randn(3, 70, 9, 9, generator=gen)
    grads = []
    for pool in (pooling.MaxPool2d(3, stride=1, padding=1), nn.MaxPool2d(3, stride=1, padding=1)):
        xr = x.clone().requires_grad_()
        (g,) = torch.autograd.grad((pool(xr) * w).sum(), xr)
        grads.append(g)
    assert torch.equal(*grads)


NETWORKS = [  # space, architecture with stride-1 pools beside convs and skips, our pool class, torch's, pools per cell
    ("nb201", (4, 2, 4, 0, 4, 3), pooling.AvgPool2d, nn.AvgPool2d, 4),
    ("nb101", (((0, 1, 1, 0), (0, 0, 0, 1), (0, 0, 0, 1), (0, 0, 0, 0)), (0, 2, 3, 1)), pooling.MaxPool2d,
     nn.MaxPool2d, 1),
]


@pytest.mark.parametrize("space,arch,pool_class,torch_class,per_cell", NETWORKS)
def test_network_gradients_bit_identical_to_torch_pools(space, arch, pool_class, torch_class, per_cell):
    # the branch sums of a cell must add in the same order as with torch's pooling node in the graph
    from swapbench.api import build_network
    from swapbench.nn.passes import backwards

    ours = build_network(space, arch, "cifar10", seed=0)
    theirs = build_network(space, arch, "cifar10", seed=0)
    swapped = 0
    for m in theirs.modules():
        if type(m) is pool_class:
            m.__class__ = torch_class
            swapped += 1
    assert swapped >= per_cell * 5  # every cell's pools
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(4, 3, 32, 32, generator=gen), torch.randint(0, 10, (4,), generator=gen)
    a, b = (backwards(net, x, y, nn.functional.cross_entropy, ("loss", "jacobian", "hvp")) for net in (ours, theirs))
    assert all(torch.equal(ga, gb) for ga, gb in zip(a.grads, b.grads, strict=True))
    assert all(torch.equal(fa, fb) for fa, fb in zip(a.fisher, b.fisher, strict=True))
    assert (a.jacobian == b.jacobian).all() and a.grasp == b.grasp


def test_autograd_keeps_torch_route():
    # under autograd layout-conversion nodes would reorder the summing of branch gradients (rounding); only
    # the same-size average pool goes through the channels-last kernel then, as one node of its own
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    assert not pooling.channels_last_route(x)
    assert pooling.channels_last_route(x.detach())
    with torch.no_grad():
        assert pooling.channels_last_route(x)
    assert not pooling.channels_last_route(x.detach()[0])  # not a batch of images


def test_subclasses_keep_torch_identity():
    # FLOP counting and zen's pool lookup inspect modules by torch type
    assert isinstance(pooling.AvgPool2d(3), nn.AvgPool2d) and isinstance(pooling.MaxPool2d(3), nn.MaxPool2d)
