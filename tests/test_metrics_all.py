"""Every registered metric runs on a small NB201 network and returns a finite float or -1e8."""

from __future__ import annotations

import math

import pytest
import torch

from swapbench.proxies import release_spent
from swapbench.proxies._shared import READERS
from swapbench.proxies.registry import FAILED, ProxyContext, get_proxy, list_proxies, run_proxy
from swapbench.spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")

BASELINES = ["plain", "grasp", "fisher", "grad_norm", "snip", "synflow", "l2_norm", "params", "flops",
             "jacov", "nwot", "epe_nas", "zen", "zico", "num_lr"]
# small but cheap to run with every metric's defaults (swap's 32 repeats included)
OVERRIDES = {"swap": {"repeats": 2}, "reg_swap": {"repeats": 2}}


@pytest.fixture(scope="module")
def nb201_batch():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, 32, 32, generator=gen), torch.randint(0, 10, (8,), generator=gen)


def test_the_baselines_and_lswag_are_registered():
    names = set(list_proxies())
    assert set(BASELINES) | {"lswag"} <= names
    labelled = {"plain", "grasp", "fisher", "grad_norm", "snip", "epe_nas", "zico", "lswag"}
    for name in BASELINES + ["lswag"]:
        assert get_proxy(name).needs_labels == (name in labelled), name


@pytest.mark.parametrize("arch", [(0, 2, 3, 2, 3, 1), (1, 4, 1, 0, 2, 1)])
def test_every_metric_on_nb201(nb201_batch, arch):
    space = get_space("nb201")
    torch.manual_seed(0)
    net = space.build(arch, "cifar10")
    before = [p.detach().clone() for p in net.parameters()]
    x, y = nb201_batch
    memo: dict = {}
    for name in list_proxies():
        spec = get_proxy(name)
        ctx = ProxyContext(space=space, task="cifar10", seed=0, arch_key=str(arch),
                           options=spec.resolve_options(OVERRIDES.get(name)), memo=memo)
        value = run_proxy(spec, net, x, y, space.loss_fn("cifar10"), ctx)
        assert isinstance(value, float), name
        assert math.isfinite(value) and (value == FAILED or abs(value) < 1e30), (name, value)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))  # net untouched


def test_scores_depend_only_on_seed_and_arch(nb201_batch):
    space = get_space("nb201")
    x, y = nb201_batch
    out = []
    for order in (BASELINES, BASELINES[::-1]):
        torch.manual_seed(1)
        net = space.build((2, 2, 3, 4, 0, 2), "cifar10")
        memo: dict = {}
        scores = {}
        for name in order:
            spec = get_proxy(name)
            ctx = ProxyContext(space=space, task="cifar10", seed=3, arch_key="a",
                               options=spec.resolve_options(), memo=memo)
            scores[name] = run_proxy(spec, net, x, y, space.loss_fn("cifar10"), ctx)
        out.append(scores)
    assert out[0] == out[1]


def test_all_none_cell_fails_cleanly(nb201_batch):
    space = get_space("nb201")
    net = space.build((1, 1, 1, 1, 1, 1), "cifar10")  # the cells output zeros: codes all equal
    x, y = nb201_batch
    for name, expected in (("nwot", FAILED), ("num_lr", 1.0)):
        spec = get_proxy(name)
        ctx = ProxyContext(space=space, task="cifar10", options=spec.resolve_options(), memo={})
        assert run_proxy(spec, net, x, y, space.loss_fn("cifar10"), ctx) == expected


def test_shared_results_are_dropped_once_no_metric_to_come_reads_them():
    memo = {("backward_pass", ("loss",)): 1, ("split_grads", 2): 2, ("scratch_net",): 3,
            ("swap_patterns", 2, "kaiming", False): 4, "executed_params_m": 5}
    release_spent(memo, ["zico", "synflow"])
    assert set(memo) == {("split_grads", 2), ("scratch_net",), ("swap_patterns", 2, "kaiming", False),
                         "executed_params_m"}
    release_spent(memo, ["nwot"])  # reads pass 1 (not there any more) on the scratch copy
    assert ("scratch_net",) in memo and ("split_grads", 2) not in memo
    release_spent(memo, [])
    assert set(memo) == {("swap_patterns", 2, "kaiming", False), "executed_params_m"}  # kinds not in the table


def test_dropping_spent_shared_results_changes_no_score(nb201_batch):
    space = get_space("nb201")
    x, y = nb201_batch
    names = [*BASELINES, "lswag"]
    out = []
    for release in (False, True):
        torch.manual_seed(2)
        net = space.build((3, 1, 2, 4, 3, 0), "cifar10")
        memo: dict = {}
        scores = {}
        for i, name in enumerate(names):
            spec = get_proxy(name)
            ctx = ProxyContext(space=space, task="cifar10", seed=1, arch_key="b", options=spec.resolve_options(),
                               memo=memo, planned=frozenset(names))
            scores[name] = run_proxy(spec, net, x, y, space.loss_fn("cifar10"), ctx)
            if release:
                release_spent(memo, names[i + 1:])
        out.append(scores)
        assert any(isinstance(k, tuple) and k[0] in READERS for k in memo) != release  # all dropped by the end
    assert out[0] == out[1]
