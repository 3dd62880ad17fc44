"""GraSP's Hessian-gradient product one block at a time (swapbench.nn.blockwise) against the explicit Hessian
and against the one-go product on TransNAS-Bench-101 networks, in float64."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from swapbench.nn.blockwise import (
    Block,
    BlockInputs,
    Shelf,
    batchnorm_link,
    chain,
    hessian_grad,
    links,
    module_block,
    relu_conv_link,
    run_chain,
    sum_link,
)
from swapbench.nn.checkpointing import set_checkpointing
from swapbench.nn.passes import backwards, weight_layers
from swapbench.spaces import get_space
from swapbench.spaces._tnb101 import BasicBlock


class Tiny(nn.Module):
    """Linear -> BatchNorm -> (Linear(tanh(Linear)) + skip) -> Linear; its chain carries the skip as a 2-tensor
    state, past a link that reads only the first (its upward step parks the skip)."""

    def __init__(self) -> None:
        super().__init__()
        self.l1, self.bn, self.l2, self.l3 = nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 4), nn.Linear(4, 2)
        self.l4 = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn(self.l1(x))
        return self.l3(self.l4(torch.tanh(self.l2(h))) + h)

    def blocks(self) -> list[Block]:
        return [Block(lambda s: (self.bn(self.l1(s[0])),), (self.l1, self.bn)),
                Block(lambda s: (torch.tanh(self.l2(s[0])), s[0]), (self.l2,)),
                Block(lambda s: (self.l4(s[0]), *s[1:]), (self.l4,), reads=1),
                Block(lambda s: (self.l3(s[0] + s[1]),), (self.l3,))]


@pytest.mark.parametrize(("keep_every", "spill"), [(1, False), (2, True), (3, False)])
def test_the_product_is_the_explicit_hessian_times_g(keep_every, spill):
    torch.manual_seed(0)
    net = Tiny().double().train()
    x, y = torch.randn(6, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1, 0])
    loss_fn = nn.functional.cross_entropy
    weights = [net.l1.weight, net.l2.weight, net.l3.weight, net.l4.weight]
    g = [torch.randn_like(w) for w in weights]
    sizes = [w.numel() for w in weights]

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        parts = dict(zip(("l1.weight", "l2.weight", "l3.weight", "l4.weight"),
                         (p.view_as(w) for p, w in zip(flat.split(sizes), weights, strict=True)), strict=True))
        return loss_fn(functional_call(net, parts, (x,)), y)

    flat = torch.cat([w.detach().reshape(-1) for w in weights])
    hessian = torch.autograd.functional.hessian(loss_of, flat)
    expected = (hessian @ torch.cat([v.reshape(-1) for v in g])).split(sizes)
    found = hessian_grad(net.blocks(), x, y, loss_fn, weights, g, keep_every=keep_every, spill=spill)
    for e, f in zip(expected, found, strict=True):
        assert f is not None and torch.allclose(f.reshape(-1), e, rtol=1e-10, atol=1e-12)


def test_a_weight_the_loss_does_not_reach_has_no_product_and_buffers_are_restored():
    torch.manual_seed(1)
    net = Tiny().double().train()
    unused = nn.Linear(2, 2).double()
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 0, 1, 1])
    before = (net.bn.running_mean.clone(), net.bn.running_var.clone(), int(net.bn.num_batches_tracked))
    weights = [net.l2.weight, unused.weight]
    hg = hessian_grad(net.blocks(), x, y, nn.functional.cross_entropy, weights, [torch.ones_like(w) for w in weights])
    assert hg[0] is not None and hg[0].abs().sum() > 0 and hg[1] is None
    assert torch.equal(net.bn.running_mean, before[0]) and torch.equal(net.bn.running_var, before[1])
    assert int(net.bn.num_batches_tracked) == before[2]


def tnb_case(space_name: str, task: str, size: int, seed: int = 5):
    space = get_space(space_name)
    arch = space.random_arch(np.random.default_rng(seed))
    torch.manual_seed(0)
    net = space.build(arch, task).double().train()
    info = space.task(task)
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, max(int(info.num_classes or 2), 2), (3,), generator=gen)
    x, y = space.prepare_batch(task, torch.randn((3, 3, size, size), generator=gen), labels, gen)
    x = x.double()
    return net, x, (y.double() if y.is_floating_point() else y), space.loss_fn(task)


@pytest.mark.parametrize(("space_name", "task", "size"), [
    ("tnb101_micro", "class_scene", 64), ("tnb101_micro", "autoencoder", 64),
    pytest.param("tnb101_macro", "class_object", 64, marks=pytest.mark.slow),
    pytest.param("tnb101_micro", "jigsaw", 32, marks=pytest.mark.slow),
    pytest.param("tnb101_macro", "segmentsemantic", 64, marks=pytest.mark.slow)])
def test_tnb101_chains_give_the_one_go_product(space_name, task, size):
    net, x, y, loss_fn = tnb_case(space_name, task, size)
    set_checkpointing(net, False)
    blocks = chain(net)
    assert blocks is not None
    with torch.no_grad():
        assert torch.equal(run_chain(blocks, x), net(x))  # the chain is the forward, bit for bit
    weights = [m.weight for m in weight_layers(net) if m.weight.requires_grad]
    grads = torch.autograd.grad(loss_fn(net(x), y), weights, create_graph=True, allow_unused=True)
    pairs = [(gw, gw.detach()) for gw in grads if gw is not None]
    one_go = torch.autograd.grad([p for p, _ in pairs], weights, [c for _, c in pairs], allow_unused=True)
    g = [torch.zeros_like(w) if gw is None else gw.detach() for gw, w in zip(grads, weights, strict=True)]
    found = hessian_grad(blocks, x, y, loss_fn, weights, g)
    for a, b in zip(one_go, found, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-12 * float(a.abs().max()))


def test_a_checkpointed_pass_takes_grasp_block_by_block():
    net, x, y, loss_fn = tnb_case("tnb101_macro", "class_scene", 64, seed=2)
    parts = ("loss", "jacobian", "hvp")
    set_checkpointing(net, False)
    off = backwards(net, x, y, loss_fn, parts)
    set_checkpointing(net, True)
    calls = []
    original = net.blocks
    net.blocks = lambda: calls.append(1) or original()  # type: ignore[method-assign]
    on = backwards(net, x, y, loss_fn, parts)
    assert calls == [1]
    assert off.grasp is not None and on.grasp == pytest.approx(off.grasp, rel=1e-9)
    assert all(torch.equal(a, b) for a, b in zip(off.grads, on.grads, strict=True))
    assert off.jacobian is not None and on.jacobian is not None and (off.jacobian == on.jacobian).all()


def test_inputs_not_kept_are_recomputed_or_read_back_bit_for_bit_in_either_order():
    net, x, _, _ = tnb_case("tnb101_macro", "class_scene", 64, seed=2)
    set_checkpointing(net, False)
    blocks = chain(net)
    assert blocks is not None and len(blocks) >= 6
    every = BlockInputs(blocks, x, 1)
    sparse = BlockInputs(blocks, x, 3)
    spilled = BlockInputs(blocks, x, 3, spill=True)
    assert len(sparse.kept) < len(every.kept) == len(blocks) + 1
    assert list(spilled.kept) == [0] and spilled.stride == 1  # the rest is in the file
    for order in (range(len(blocks), -1, -1), range(len(blocks) + 1)):
        for k in order:
            assert all(torch.equal(a, b) for a, b in zip(every[k], sparse[k], strict=True))
            assert all(torch.equal(a, b) for a, b in zip(every[k], spilled[k], strict=True))
            assert len(sparse.segment) < 3 and not spilled.segment
    sparse.drop_above(2)
    assert max(sparse.kept) <= 2 and all(k <= 2 for k in sparse.segment)
    spilled.close()


def weights_of(blocks: list[Block]) -> list[int]:
    return [id(p) for b in blocks for m in b.modules for p in m.parameters()]


def test_links_open_sequentials_and_join_a_weightless_link_to_the_next():
    torch.manual_seed(6)
    act, lin, bn, tail, lin2, whole = nn.ReLU(), nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 3), Tiny()
    found = links(nn.Sequential(nn.Sequential(act, lin), bn, tail), lin2, whole)
    assert [b.modules for b in found] == [(act, lin), (bn,), (tail, lin2), (whole,)]  # Tiny is no Sequential
    x = torch.randn(5, 3)
    with torch.no_grad():
        assert torch.equal(run_chain(found, x), whole(lin2(tail(bn(lin(act(x)))))))
    (only,) = links(nn.ReLU(), nn.Sigmoid())  # nothing has weights: one link
    assert [type(m) for m in only.modules] == [nn.ReLU, nn.Sigmoid]
    assert [b.modules for b in links(lin, nn.Sequential(bn, act))] == [(lin,), (bn, act)]  # a trailing one: the last
    summed = links(BasicBlock(4, 4, 1), nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1, bias=False)))
    assert len(summed) == 6 and not summed[4].modules and summed[4].up_step is not None  # in closed form: alone


@pytest.mark.parametrize(("c_in", "c_out", "stride"), [(4, 4, 1), (4, 8, 1), (4, 8, 2)])
def test_a_basic_block_is_its_links_bit_for_bit(c_in, c_out, stride):
    torch.manual_seed(7)
    block = BasicBlock(c_in, c_out, stride).train()
    found = block.links()
    weighted = [[m for m in b.modules if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))] for b in found]
    assert all(len(m) == 1 for m in weighted[:-1]) and not found[-1].modules  # a conv or a BatchNorm; the sum
    assert sorted(weights_of(found)) == sorted(id(p) for p in block.parameters())
    x = torch.randn(3, c_in, 8, 8)
    with torch.no_grad():
        assert torch.equal(run_chain(found, x), block(x))
        state: tuple[torch.Tensor, ...] = (x,)
        for link in found:  # a link that reads the first tensors only gives the same on them alone
            after = link.run(state)
            if link.reads is not None:
                assert link.reads < len(state) == len(after)
                alone = link.run(state[:link.reads])
                assert len(alone) == link.reads and all(torch.equal(a, b) for a, b in zip(alone, after, strict=False))
                assert all(a is b for a, b in zip(after[link.reads:], state[link.reads:], strict=True))
            state = after
        assert sum(link.reads is not None for link in found) == (3 if stride == 1 and c_in == c_out else 4)


@pytest.mark.parametrize(("space_name", "task"), [("tnb101_macro", "class_scene"), ("tnb101_micro", "autoencoder"),
                                                  ("tnb101_macro", "segmentsemantic")])
def test_a_tnb101_chain_holds_every_executed_weight_once(space_name, task):
    net, x, _, _ = tnb_case(space_name, task, 64, seed=3)
    blocks = chain(net)
    assert blocks is not None
    found = weights_of(blocks)
    assert len(found) == len(set(found))
    executed = [p for name, p in net.named_parameters() if not name.startswith("discriminator.")]
    assert set(found) == {id(p) for p in executed}
    if space_name == "tnb101_macro":  # the blocks are split: more links than modules of the encoder's top level
        assert len(blocks) > 3 * len(net.encoder.layers)


@pytest.mark.parametrize("spill", [False, True])
def test_a_shelf_gives_back_what_was_put_bit_for_bit(spill):
    gen = torch.Generator().manual_seed(3)
    first = [torch.randn(4, 5, dtype=torch.float64, generator=gen).t(), None, torch.randint(0, 9, (3,), generator=gen)]
    second = [torch.randn(2, 3, 4, generator=gen), torch.zeros(0)]
    shelf = Shelf(spill)
    shelf.put(2, first)
    shelf.put(1, second)
    for k, put in ((1, second), (2, first)):
        for got in (shelf.look(k), shelf.look(k), shelf.take(k)):  # looked at twice, then taken
            assert len(got) == len(put)
            for a, b in zip(put, got, strict=True):
                assert (a is None and b is None) or (b.dtype == a.dtype and b.shape == a.shape and torch.equal(a, b))
    with pytest.raises(KeyError):
        shelf.take(1)  # taken once
    shelf.close()


@pytest.mark.parametrize("spill", [False, True])
def test_a_chain_of_one_block_is_the_explicit_hessian_times_g(spill):
    torch.manual_seed(4)
    lin = nn.Linear(3, 2).double()
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.tensor([0, 1, 1, 0, 1])
    g = torch.randn_like(lin.weight)

    def loss_of(w: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(nn.functional.linear(x, w, lin.bias), y)

    hessian = torch.autograd.functional.hessian(loss_of, lin.weight.detach()).reshape(6, 6)
    (found,) = hessian_grad([module_block(lin)], x, y, nn.functional.cross_entropy, [lin.weight], [g], spill=spill)
    assert found is not None and torch.allclose(found.reshape(-1), hessian @ g.reshape(-1), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("train", [True, False])
def test_a_batchnorm_link_takes_its_upward_step_in_closed_form_and_matches_autograd(train):
    torch.manual_seed(8)
    conv, bn, head = nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3, eps=1.0), nn.Linear(3, 2)
    for m in (conv, bn, head):
        m.double()
    nn.init.uniform_(bn.weight, 0.5, 1.5)
    nn.init.uniform_(bn.running_var, 0.5, 1.5)
    bn.train(train)
    used = []
    link = batchnorm_link(bn)
    assert link.up_step is not None

    def counted(*args):
        found = link.up_step(*args)
        used.append(found is not None)
        return found

    blocks = [Block(lambda s: (conv(s[0]), s[0]), (conv,)), replace(link, up_step=counted),
              Block(lambda s: (head(torch.tanh(s[0]).mean((2, 3)) + s[1].mean((1, 2, 3))[:, None]),), (head,))]
    x, y = torch.randn(4, 2, 5, 5, dtype=torch.float64), torch.tensor([0, 1, 1, 0])
    weights = [conv.weight, head.weight]
    g = [torch.randn_like(w) for w in weights]
    closed = hessian_grad(blocks, x, y, nn.functional.cross_entropy, weights, g)
    plain = hessian_grad([blocks[0], link.__class__(link.run, link.modules), blocks[2]], x, y,
                         nn.functional.cross_entropy, weights, g)
    assert used == [train]  # in eval mode the running statistics normalise: the autograd step
    for a, b in zip(plain, closed, strict=True):
        assert a is not None and b is not None and torch.allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("asked", [True, False])
def test_relu_conv_and_sum_links_take_their_upward_steps_in_closed_form_and_match_autograd(asked):
    torch.manual_seed(9)
    stem, conv1, conv2 = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, bias=False), \
        nn.Conv2d(4, 4, 3, dilation=2, padding=2, bias=False)
    head = nn.Linear(4, 2)
    for m in (stem, conv1, conv2, head):
        m.double()
    used = []

    def counted(link: Block) -> Block:
        def up(*args):
            found = link.up_step(*args)  # type: ignore[misc]
            used.append(found is not None)
            return found
        return replace(link, up_step=up)

    first, second, added = relu_conv_link(nn.ReLU(), conv1, keep_input=True), relu_conv_link(nn.ReLU(), conv2), \
        sum_link()
    assert (first.reads, second.reads, added.reads) == (None, 1, None)
    last = Block(lambda s: (head(torch.tanh(s[0]).mean((2, 3))),), (head,))
    blocks = [module_block(stem), counted(first), counted(second), counted(added), last]
    x, y = torch.randn(4, 2, 6, 6, dtype=torch.float64), torch.tensor([0, 1, 1, 0])
    with torch.no_grad():  # the links are the modules they are made of
        h = stem(x)
        assert torch.equal(run_chain(blocks, x), head(torch.tanh(conv2(torch.relu(conv1(torch.relu(h)))) + h)
                                                      .mean((2, 3))))
    weights = [stem.weight, head.weight] + ([conv1.weight, conv2.weight] if asked else [])
    g = [torch.randn_like(w) for w in weights]
    closed = hessian_grad(blocks, x, y, nn.functional.cross_entropy, weights, g, spill=True)
    plain = hessian_grad([blocks[0], *(Block(b.run, b.modules) for b in (first, second, added)), last],
                         x, y, nn.functional.cross_entropy, weights, g)
    assert used == [asked, asked, True]  # a conv whose weight is not asked for: the autograd step
    for a, b in zip(plain, closed, strict=True):
        assert a is not None and b is not None and torch.allclose(a, b, rtol=1e-10, atol=1e-13)


def test_a_sequential_opens_a_relu_and_the_conv_after_it_into_one_closed_form_link():
    relu, conv, bn = nn.ReLU(), nn.Conv2d(3, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3)
    found = links(nn.Sequential(relu, conv, bn), nn.Sequential(nn.ReLU(), nn.Linear(3, 3)))
    assert [b.modules for b in found][:2] == [(relu, conv), (bn,)]
    assert found[0].up_step is not None and found[0].reads == 1 and found[2].up_step is None
