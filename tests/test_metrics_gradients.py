"""Gradient-based metrics against explicit autograd on tiny networks."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from swapbench.proxies.registry import FAILED, ProxyContext, get_proxy, run_proxy
from swapbench.proxies.synflow import log_transform

pytestmark = pytest.mark.usefixtures("one_thread")


def score(name: str, net: nn.Module, x, y, memo: dict | None = None, **options) -> float:
    spec = get_proxy(name)
    ctx = ProxyContext(options=spec.resolve_options(options), memo={} if memo is None else memo, arch_key="t")
    return run_proxy(spec, net, x, y, F.cross_entropy, ctx)


def conv_net() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4)
    )


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(2)
    return torch.randn(6, 2, 4, 4, generator=gen), torch.tensor([0, 1, 2, 3, 0, 1])


def explicit_grads(net: nn.Module, x, y) -> list[tuple[torch.Tensor, torch.Tensor]]:
    net = copy.deepcopy(net).train()
    F.cross_entropy(net(x), y).backward()
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return [(m.weight.detach(), m.weight.grad.detach()) for m in layers]


def test_grad_norm_snip_plain_match_autograd(batch):
    net, (x, y) = conv_net(), batch
    pairs = explicit_grads(net, x, y)
    assert score("grad_norm", net, x, y) == pytest.approx(sum(float(g.norm()) for _, g in pairs), rel=1e-6)
    snip = sum(float((w * g).abs().sum()) for w, g in pairs)
    assert score("snip", net, x, y) == pytest.approx(snip, rel=1e-6)
    assert score("plain", net, x, y) == pytest.approx(sum(float((w * g).sum()) for w, g in pairs), rel=1e-5)


def test_shared_backward_gives_the_same_numbers(batch):
    net, (x, y) = conv_net(), batch
    memo: dict = {}
    shared = [score(n, net, x, y, memo) for n in ("grad_norm", "snip", "plain", "fisher", "grasp")]
    alone = [score(n, net, x, y) for n in ("grad_norm", "snip", "plain", "fisher", "grasp")]
    assert shared == alone
    assert [k for k in memo if k[0] == "backward_pass"] == [("backward_pass", ("loss",)),
                                                            ("backward_pass", ("loss", "hvp"))]


def test_one_forward_serves_loss_jacobian_and_grasp(batch):
    """With every user of pass 1 planned, one forward gives them all, with the numbers each gets alone."""
    net, (x, y) = conv_net(), batch
    names = ("jacov", "grad_norm", "snip", "plain", "fisher", "grasp", "epe_nas")
    memo: dict = {}
    shared = []
    for name in names:
        spec = get_proxy(name)
        ctx = ProxyContext(options=spec.resolve_options(), memo=memo, arch_key="t", planned=frozenset(names))
        shared.append(run_proxy(spec, net, x, y, F.cross_entropy, ctx))
    assert shared == [score(n, net, x, y) for n in names]
    assert [k for k in memo if k[0] == "backward_pass"] == [("backward_pass", ("loss", "jacobian", "hvp"))]


def test_fisher_matches_channel_formula(batch):
    net, (x, y) = conv_net(), batch
    ref = copy.deepcopy(net).train()
    acts = {}

    def keep(name):
        def hook(_m, _i, out):
            out.retain_grad()
            acts[name] = out
        return hook

    ref[0].register_forward_hook(keep("conv"))
    ref[4].register_forward_hook(keep("fc"))
    F.cross_entropy(ref(x), y).backward()
    a, d = acts["conv"].detach(), acts["conv"].grad
    f_conv = 0.5 * ((a * d).sum(dim=(2, 3)) ** 2).mean(0)
    a, d = acts["fc"].detach(), acts["fc"].grad
    f_fc = 0.5 * ((a * d) ** 2).mean(0)
    expected = float(f_conv.abs().sum()) * (2 * 3 * 3) + float(f_fc.abs().sum()) * 48
    assert score("fisher", net, x, y) == pytest.approx(expected, rel=1e-5)


def test_grasp_matches_explicit_hessian():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
    names = ["0.weight", "2.weight"]
    params = dict(net.named_parameters())
    shapes = [params[n].shape for n in names]
    sizes = [math.prod(s) for s in shapes]
    flat = torch.cat([params[n].detach().reshape(-1) for n in names])

    def loss_of(vec):
        parts = torch.split(vec, sizes)
        weights = {n: p.reshape(s) for n, p, s in zip(names, parts, shapes, strict=True)}
        return F.cross_entropy(functional_call(net, {**params, **weights}, (x,)), y)

    vec = flat.clone().requires_grad_(True)
    g = torch.autograd.grad(loss_of(vec), vec)[0]
    hess = torch.autograd.functional.hessian(loss_of, flat)
    expected = float(-(flat * (hess @ g)).sum())
    assert score("grasp", net, x, y) == pytest.approx(expected, rel=1e-4, abs=1e-7)


class WithIdleSpectralConv(nn.Module):
    """A net holding a spectral-norm conv it never runs, as TNB101's autoencoder holds its discriminator."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(6)
        self.body = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))
        self.idle = nn.utils.spectral_norm(nn.Conv2d(2, 2, 3))

    def forward(self, x):
        return self.body(x)


def test_grasp_ignores_an_unexecuted_spectral_norm_layer():
    net = WithIdleSpectralConv()
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
    assert not net.idle.weight.requires_grad  # the plain tensor NASLib re-flags before autograd.grad
    value = score("grasp", net, x, y)
    assert value == pytest.approx(score("grasp", net.body, x, y), rel=1e-6)


def test_synflow_two_layer_linear():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    w1, b1 = net[0].weight.detach().double().abs(), net[0].bias.detach().double().abs()
    w2 = net[1].weight.detach().double().abs()
    h = w1.sum(dim=1) + b1  # first layer on an all-ones input
    s = float((w2 * h[None, :]).sum() + (w1 * w2.sum(dim=0)[:, None]).sum())
    got = score("synflow", net, torch.randn(7, 3), torch.zeros(7, dtype=torch.long))
    assert got == pytest.approx(math.log(s), rel=1e-12)
    assert get_proxy("synflow").bn is False and not get_proxy("synflow").needs_labels


def test_synflow_bypasses_batchnorm():
    torch.manual_seed(5)
    with_bn = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    without = nn.Sequential(with_bn[0], nn.Identity(), with_bn[2])
    x = torch.randn(4, 3)
    assert score("synflow", with_bn, x, None) == pytest.approx(score("synflow", without, x, None), rel=1e-12)


def test_synflow_log_transform_and_overflow():
    assert log_transform(0.0) == 0.0
    assert log_transform(math.e**2) == pytest.approx(2.0)
    assert log_transform(-math.e**3) == pytest.approx(-3.0)
    assert log_transform(float("nan")) == pytest.approx(-math.log(1e8))
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)).double()
    with torch.no_grad():
        net[0].weight.fill_(1e200)
        net[1].weight.fill_(1e200)
    # the score overflows to inf, becomes -1e8, then goes through the log
    assert score("synflow", net, torch.ones(1, 2), None) == pytest.approx(-math.log(1e8))


def test_l2_norm_reads_the_original_weights():
    net = conv_net()
    expected = float(net[0].weight.detach().norm()) + float(net[4].weight.detach().norm())
    spec = get_proxy("l2_norm")
    assert spec.copy_net is False and spec.data == "none"
    assert score("l2_norm", net, torch.zeros(1, 2, 4, 4), None) == pytest.approx(expected, rel=1e-6)


def test_zico_reproduces_the_accumulating_loop(batch):
    net, (x, y) = conv_net(), batch
    ref = copy.deepcopy(net).train()
    layers = [m for m in ref.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    recorded = [[] for _ in layers]
    for xb, yb in zip(torch.chunk(x, 2), torch.chunk(y, 2), strict=True):  # no zero_grad in between
        F.cross_entropy(ref(xb), yb).backward()
        for i, m in enumerate(layers):
            recorded[i].append(m.weight.grad.detach().reshape(-1).numpy().astype(np.float64))
    def zico(per_layer):
        total = 0.0
        for g in per_layer:
            g = np.array(g)
            std, mean_abs = g.std(axis=0), np.abs(g).mean(axis=0)
            nz = std != 0
            total += math.log(np.sum(mean_abs[nz] / std[nz]))
        return total

    assert score("zico", net, x, y, cumulative=True) == pytest.approx(zico(recorded), rel=1e-9)
    per_batch = [[g[0], g[1] - g[0]] for g in recorded]  # undo the accumulation
    assert score("zico", net, x, y) == pytest.approx(zico(per_batch), rel=1e-5)  # per-batch is the default


def test_zico_by_hand_per_batch_and_cumulative():
    """One weight w = 1, loss = the summed output: each half-batch's gradient is the sum of its inputs, here
    g1 = 1 and g2 = 3. Per batch: sigma = std(1, 3) = 1, mu = mean(|1|, |3|) = 2, ZiCo = log 2.
    Cumulative (G = 1, 4): sigma = 1.5, mu = 2.5, ZiCo = log(5/3)."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        net[1].weight.fill_(1.0)
    x, y = torch.tensor([1.0, 0.0, 2.0, 1.0]).view(4, 1, 1, 1), torch.zeros(4, dtype=torch.long)
    spec = get_proxy("zico")

    def run(**options):
        ctx = ProxyContext(options=spec.resolve_options(options), memo={}, arch_key="t")
        return run_proxy(spec, net, x, y, lambda out, _: out.sum(), ctx)

    assert run() == pytest.approx(math.log(2.0), rel=1e-12)
    assert run(cumulative=True) == pytest.approx(math.log(5 / 3), rel=1e-7)


def test_failed_scores_become_minus_1e8():
    spec = get_proxy("jacov")  # a zero Jacobian has NaN correlations
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        net[1].weight.zero_()
    ctx = ProxyContext(options=spec.resolve_options(), memo={})
    x, y = torch.randn(5, 1, 2, 2), torch.zeros(5, dtype=torch.long)
    assert run_proxy(spec, net, x, y, None, ctx) == FAILED
