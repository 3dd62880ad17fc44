"""SWAP cardinality: hand-computable networks and the bit-packed count against a naive count."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from swapbench.nn.patterns import PatternCounter, naive_count, pack_unit_patterns
from swapbench.proxies.swap import count_patterns, gaussian_init, regulariser, swap_per_repeat


def one_by_one_net(weights: list[float]) -> nn.Module:
    """1 input channel -> len(weights) channels, 1x1 conv, no bias: unit k computes w_k * x."""
    conv = nn.Conv2d(1, len(weights), 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(weights).view(-1, 1, 1, 1))
    return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.ReLU())  # the 2-D ReLU must be ignored


def test_hand_computed_cardinality():
    # samples x = 1, -1, 2 (1x1 images). Unit patterns over samples:
    # w=1 -> (1,0,1); w=-1 -> (0,1,0); w=2 -> (1,0,1) (duplicate); w=0 -> (0,0,0)
    x = torch.tensor([1.0, -1.0, 2.0]).view(3, 1, 1, 1)
    assert count_patterns(one_by_one_net([1.0]), x) == 1
    assert count_patterns(one_by_one_net([1.0, -1.0]), x) == 2
    assert count_patterns(one_by_one_net([1.0, -1.0, 2.0]), x) == 2
    assert count_patterns(one_by_one_net([1.0, -1.0, 2.0, 0.0]), x) == 3


def test_spatial_positions_are_units():
    # a 1x2 image: the two positions are separate units; same weights, different inputs
    conv = nn.Conv2d(1, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    net = nn.Sequential(conv, nn.ReLU())
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]).view(3, 1, 1, 2)
    # position 0: (1,1,0); position 1: (1,0,0)
    assert count_patterns(net, x) == 2
    x_same = torch.tensor([[1.0, 1.0], [-1.0, -1.0]]).view(2, 1, 1, 2)
    assert count_patterns(net, x_same) == 1


def test_two_d_relu_ignored_and_layers_merged():
    lin = nn.Linear(1, 4)
    net = nn.Sequential(nn.Flatten(), lin, nn.ReLU())
    assert count_patterns(net, torch.randn(5, 1, 1, 1)) == 0
    # identical patterns in two different layers count once
    net2 = nn.Sequential(nn.ReLU(), nn.Identity(), nn.ReLU())
    x = torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)
    assert count_patterns(net2, x) == 1


@pytest.mark.parametrize("samples", [1, 7, 16, 20, 21, 63, 64, 65, 130])  # <= 20: occupancy table
def test_packed_count_equals_naive(samples):
    gen = torch.Generator().manual_seed(samples)
    acts = [torch.relu(torch.randn(samples, c, 5, 5, generator=gen)) for c in (2, 3, 4)]
    # low-entropy layer so that duplicates actually occur
    acts.append((torch.rand(samples, 300, generator=gen) > 0.9).float())
    counter = PatternCounter()
    for a in acts:
        counter.add(a)
    assert counter.count() == naive_count(acts)


def test_packing_bit_layout():
    active = torch.zeros(65, 2, dtype=torch.bool)
    active[0, 0] = True
    active[63, 0] = True
    active[64, 1] = True
    codes = pack_unit_patterns(active)
    assert codes.shape == (2, 2)
    assert int(codes[0, 0]) == 1 - 2**63  # bits 0 and 63 of the first word (two's complement)
    assert int(codes[0, 1]) == 0
    assert int(codes[1, 0]) == 0 and int(codes[1, 1]) == 1


def test_gaussian_reinit_and_repeats_are_deterministic():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8, affine=False), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
    x = torch.randn(16, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    a = swap_per_repeat(net, x, 4, "gaussian", torch.Generator().manual_seed(1))
    b = swap_per_repeat(net, x, 4, "gaussian", torch.Generator().manual_seed(1))
    assert a == b and len(a) == 4
    gaussian_init(net, torch.Generator().manual_seed(2))
    assert float(net[0].bias.detach().abs().sum()) == 0.0  # biases zeroed, affine-less BN tolerated


def test_regulariser_forms():
    assert regulariser(1.0, 1.5, 1.5, "paper") == pytest.approx(math.exp(-((0.5 / 1.5) ** 2)))
    assert regulariser(1.0, 1.5, 1.5, "code") == pytest.approx(math.exp(-(0.25 / 1.5)))
    assert regulariser(1.5, 1.5, 1.5, "paper") == 1.0
    assert regulariser(0.3, 40, 40, "code") < regulariser(20, 40, 40, "code")


@pytest.mark.slow  # real images
def test_swap_generator_draws_what_the_metric_draws(data_dir):
    """swap_per_repeat with the metric's generator on the run's network and batch: its first R values
    average to the swap score at repeats=R."""
    import swapbench
    from swapbench.proxies.registry import ProxyContext
    from swapbench.proxies.swap import swap_generator
    from swapbench.study.config import CorrelateConfig
    from swapbench.study.runner import plan_run, run_batch

    plan = plan_run(CorrelateConfig(space="nb201", task="cifar10", proxies=["swap"], n_archs=3, limit_archs=1,
                                    seeds=[0], batch_size=8, device="cpu", data_dir=str(data_dir)))
    arch = plan.truth.archs[plan.samples[0][0]]
    x, _ = run_batch(plan, 0, "")
    ctx = ProxyContext(space=plan.space, task="cifar10", seed=0, arch_key=plan.space.canonical_key(arch))
    psis = swap_per_repeat(swapbench.build_network("nb201", arch, "cifar10"), x, 2, "gaussian", swap_generator(ctx))
    score = swapbench.score("nb201", arch, "cifar10", ["swap"], batch_size=8, device="cpu", data_dir=str(data_dir),
                            options={"swap": {"repeats": 2}})
    assert score["swap"].value == sum(psis) / 2
