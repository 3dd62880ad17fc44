"""params / flops by the tensorwatch rule: a hand-counted stack, and the stored NB201 table values."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from swapbench.data.benchmarks import load_truth
from swapbench.nn.counting import count_model, leaf_flops
from swapbench.proxies.registry import ProxyContext, get_proxy, run_proxy
from swapbench.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")


class Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.smooth = nn.AvgPool2d(3, stride=1, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 5)
        self.aux = nn.Linear(10, 10)  # never called: not counted
        self.flag = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.flag = self.training
        x = self.act(self.bn(self.conv(x)))  # ReLU on 4x8x8
        x = self.act(self.smooth(self.pool(x)))  # same ReLU again on 4x4x4: the last call counts
        return self.fc(torch.flatten(self.gap(x), 1))


# hand count for a 1x3x8x8 input
CONV = 3 * 3 * 3 * 4 * 8 * 8 + 4 * 8 * 8  # k*k*C_in*C_out*H*W + bias
BN = 4 * 8 * 8 * 2  # affine
RELU_LAST = 4 * 4 * 4
MAXPOOL = 4 * 4 * 4 * 2 * 2  # C*H'*W'*k^2
AVGPOOL = 4 * 4 * 4 * 3 * 3
GAP = 4 * (4 + 1) * (4 + 1)  # C*(H+1)*(W+1)
FC = 4 * 5
PARAMS = (3 * 4 * 9 + 4) + (4 + 4) + (4 * 5 + 5)


def test_hand_counted_stack():
    net = Stack().train()
    counts = count_model(net, (3, 8, 8))
    assert counts.params == PARAMS
    assert counts.flops == CONV + BN + RELU_LAST + MAXPOOL + AVGPOOL + GAP + FC
    assert net.flag is False  # the counting forward ran in eval mode
    assert net.training and net.bn.training  # and the mode was restored


def test_metrics_report_millions_and_share_one_forward():
    net = Stack()
    x = torch.zeros(2, 3, 8, 8)
    memo: dict = {}
    out = {}
    for name in ("params", "flops"):
        spec = get_proxy(name)
        assert spec.data == "shape" and not spec.needs_grad and not spec.needs_labels
        ctx = ProxyContext(options=spec.resolve_options(), memo=memo, arch_key="stack")
        out[name] = run_proxy(spec, net, x, torch.zeros(2, dtype=torch.long), None, ctx)
    assert out["params"] == pytest.approx(PARAMS / 1e6, abs=1e-12)
    total = CONV + BN + RELU_LAST + MAXPOOL + AVGPOOL + GAP + FC
    assert out["flops"] == pytest.approx(total / 1e6, abs=1e-12)
    assert len(memo) == 1


def test_leaf_rules():
    conv = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)  # depthwise: k^2 * C_in * (C_out/groups)
    x = torch.zeros(1, 4, 5, 5)
    assert leaf_flops(conv, x, conv(x)) == 9 * 4 * 1 * 25
    bn = nn.BatchNorm2d(4, affine=False)
    assert leaf_flops(bn, x, x) == 100
    assert leaf_flops(nn.Tanh(), x, x) == 0
    assert leaf_flops(nn.Identity(), x, x) == 0
    pool = nn.AdaptiveAvgPool2d(2)  # windows [0,3)x[0,3), [0,3)x[2,5), ...: each (3+1)*(3+1)
    assert leaf_flops(pool, x, pool(x)) == 4 * 4 * 16


@pytest.mark.slow  # the published tables
@pytest.mark.parametrize("task, count", [("cifar10", 20), ("ImageNet16-120", 20)])
def test_stored_params_and_flops_match(data_dir, task, count):
    space = get_space("nb201")
    truth = load_truth(space, task, data_dir)
    shape = space.task(task).input_shape
    rows = list(itertools.islice(range(0, len(truth), len(truth) // count), count))
    for row in rows:
        net = space.build(truth.archs[row], task)
        memo: dict = {}
        for name in ("params", "flops"):
            spec = get_proxy(name)
            ctx = ProxyContext(space=space, task=task, options={}, memo=memo, arch_key=truth.keys[row])
            value = run_proxy(spec, net, torch.zeros(1, *shape), torch.zeros(1, dtype=torch.long), None, ctx)
            assert abs(value - truth.stored[name][row]) < 1e-6, (truth.keys[row], name)
