"""Block checkpointing (swapbench.nn.checkpointing) changes memory and time, never a number: the blocks run
again in the backward, and every metric gives the same value with it on and off; grasp's, which then goes
block by block (swapbench.nn.blockwise, tests/test_blockwise.py), to float rounding."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
import torch
from conftest import every_metric
from torch import nn

from swapbench.nn.checkpointing import BlockSequence, checkpointing, set_checkpointing
from swapbench.nn.hooks import activation_recorder
from swapbench.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")


class Counted(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv, self.bn, self.relu = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.relu(self.bn(self.conv(x)))


def grads_of(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    net.zero_grad(set_to_none=True)
    net(x).square().sum().backward()
    return [p.grad.clone() for p in net.parameters()]


def test_blocks_rerun_in_the_backward_and_the_gradients_are_the_same():
    torch.manual_seed(0)
    net = BlockSequence(Counted(3), Counted(3)).train()
    x = torch.randn(4, 3, 8, 8)
    plain = grads_of(net, x) if set_checkpointing(net, False) == 1 else None
    assert [b.calls for b in net] == [1, 1]
    assert set_checkpointing(net, True) == 1 and checkpointing(net)
    again = grads_of(net, x)
    assert [b.calls for b in net] == [3, 3]  # forward, then once more each in the backward
    assert plain is not None and all(torch.equal(a, b) for a, b in zip(plain, again, strict=True))
    with torch.no_grad():
        net(x)
    assert [b.calls for b in net] == [4, 4]  # nothing to keep without autograd: no recomputation


def test_a_repeated_activation_call_is_recognised_while_its_input_lives():
    relu = nn.ReLU()
    hook, calls, seen = activation_recorder()
    relu.register_forward_hook(hook)
    x = torch.randn(2, 5)
    relu(x)
    relu(x)
    relu(x + 1)
    assert [c.duplicate for c in calls] == [False, True, False]
    assert torch.equal(calls[0].bits, calls[1].bits)
    # the record holds no input: once x is gone, nothing keeps its storage
    ref = weakref.ref(x.untyped_storage())
    del x
    gc.collect()
    assert ref() is None
    y = torch.randn(2, 5)
    assert seen.find(relu, y) == (False, None)
    seen.add(relu, y, "bits")
    assert seen.find(relu, y) == (True, "bits")


def metric_values(space_name: str, task: str, on: bool) -> dict[str, float]:
    space = get_space(space_name)
    info = space.task(task)
    rng = np.random.default_rng(1)
    arch = space.random_arch(rng)
    torch.manual_seed(0)
    net = space.build(arch, task)
    assert set_checkpointing(net, on) >= 1
    gen = torch.Generator().manual_seed(0)
    shape = info.input_shape if len(info.input_shape) == 3 else (3, 256, 256)
    labels = torch.randint(0, max(int(info.num_classes or 2), 2), (4,), generator=gen)
    x, y = space.prepare_batch(task, torch.randn((4, *shape), generator=gen), labels, gen)
    return every_metric(space, task, arch, net, x, y)


@pytest.mark.parametrize(("space_name", "task"), [
    ("tnb101_macro", "class_scene"), ("tnb101_macro", "jigsaw"),
    pytest.param("tnb101_macro", "autoencoder", marks=pytest.mark.slow),
    pytest.param("tnb101_micro", "segmentsemantic", marks=pytest.mark.slow)])
def test_every_metric_is_the_same_with_and_without_checkpointing(space_name, task):
    on, off = metric_values(space_name, task, True), metric_values(space_name, task, False)
    assert on.keys() == off.keys()
    assert on["grasp"] == pytest.approx(off["grasp"], rel=1e-4)  # float32, summed in another order
    differ = {k: (on[k], off[k]) for k in on
              if k != "grasp" and not (on[k] == off[k] or (on[k] != on[k] and off[k] != off[k]))}
    assert not differ


def test_tnb101_networks_checkpoint_their_blocks_by_default():
    space = get_space("tnb101_macro")
    net = space.build(space.random_arch(np.random.default_rng(0)), "autoencoder")
    assert checkpointing(net)
    assert set_checkpointing(net, False) == 2  # the encoder and the decoder


def test_a_run_checkpoints_unless_told_off():
    from swapbench.study.runner import checkpoint_blocks

    assert checkpoint_blocks("auto") and checkpoint_blocks("on") and not checkpoint_blocks("off")


class Noisy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.dropout(self.lin(x), 0.5, training=True)


def test_a_recomputed_block_draws_the_same_random_numbers_and_twice_differentiating_it_is_refused():
    torch.manual_seed(3)
    net = BlockSequence(Noisy(), Noisy())
    x = torch.randn(5, 4, requires_grad=True)
    found = []
    for on in (False, True):
        set_checkpointing(net, on)
        torch.manual_seed(4)
        out = net(x)
        found.append(torch.autograd.grad(out.square().sum(), [x, *net.parameters()]))
    assert all(torch.equal(a, b) for a, b in zip(*found, strict=True))
    with pytest.raises(RuntimeError, match="differentiated twice"):  # a backward with a graph is refused
        torch.autograd.grad(net(x).square().sum(), [net[0].lin.weight], create_graph=True)
