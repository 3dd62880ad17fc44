"""GraSP's Hessian-gradient product one block at a time, for networks that run as a chain of blocks.

Hg = d/dW <g, dL/dW> (g held constant) is the backward of the loss-gradient graph. Taken in one go it holds
every block's activations and every block's backward tensors at once, however the forward was checkpointed:
on a large TransNAS-Bench-101 network that is most of 10 GiB. Here it is the same reverse-over-reverse
product in two sweeps over the blocks f_1..f_K (a_k = f_k(a_(k-1)), d_k = dL/da_k), each block rebuilt from
its stored input, so that one block's graph lives at a time:

1. a forward without autograd keeps every sqrt(K)-th block input a_k (the rest is recomputed from the nearest
   kept one below when a downward sweep needs it), or with `spill` every one in a file; the loss gradient's
   backward keeps d_k;
2. sweep up, k = 1..K, each block's input the output of the block below: block k's backward with a graph,
   (d_(k-1), dL/dW_k), given a_(k-1) and d_k; its backward with cotangents (bar d_(k-1), g_k) gives block
   k's second-order share of Hg, the adjoint of a_(k-1) through the backward tensors, and bar d_k, the
   cotangent of d_k, for block k+1;
3. at the loss: the adjoint of a_K is the loss Hessian with respect to the output times bar d_K;
4. sweep down, k = K..1: block k's forward backward with the adjoint of a_k (this sweep's plus the upward
   sweep's share) gives the rest of Hg_k and the adjoint of a_(k-1).

Every product is one autograd already forms inside the whole graph, on the same inputs; only the order in
which the shares of one gradient are added differs, so the result equals the one-go product to float
rounding, not bit for bit. The cost is about two more forwards and backwards of the network, and two more
forwards for the inputs not kept. With `spill` the block inputs, the boundary gradients d_k and the upward
sweep's adjoints wait in a temporary file, each written once and read once or twice (on a CPU that is where
the memory is short; the pages sit in the OS's cache, not in the process), and no input is recomputed.
Blocks run in train mode; their BatchNorm buffers are restored afterwards, so they move as after one forward.
After each block the freed heap goes back to the OS (malloc_trim): block graphs of many sizes come and go,
and glibc would otherwise keep their gaps resident (0.25-0.5 GiB of the peak on TransNAS-Bench-101 macro
networks). The smaller the blocks, the less one step holds: a network's chain may split its blocks into links
of one conv or one BatchNorm (`links`); a BatchNorm link and a ReLU-conv link take their upward step in
closed form (`batchnorm_link`, `relu_conv_link`), and a link that passes part of the state through (a
residual block's input, carried beside its branch) leaves that part in the file during its step (`reads`).

A network opts in with a method ``blocks()`` returning its `Block` chain; a block maps a tuple of tensors to a
tuple of tensors (the first block takes the input alone, the last returns the output alone).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from swapbench.device import release_memory

State = tuple[torch.Tensor, ...]
Maybe = torch.Tensor | None


Stepped = tuple[State, list[Maybe], list[Maybe], dict[int, torch.Tensor]]
UpStep = Callable[[State, Sequence[torch.Tensor], Sequence[Maybe], Mapping[int, torch.Tensor]], Stepped | None]


@dataclass(frozen=True)
class Block:
    """One link of a network's chain: `run` maps the previous state to the next; `modules` hold its weights.
    `up_step`, where given, takes the upward sweep's step in closed form: from the inputs, d_k, the cotangent
    of d_(k-1) and the vectors g of the weights asked for (by id), the outputs, the inputs' adjoint through the
    backward tensors, the cotangent of d_k and the link's second-order share of Hg by weight id (None: not in
    this case, take the autograd step). `reads`, where given, says the link reads only the state's first
    `reads` tensors, replaces them with as many, and passes the rest through as they are: `run` on those first
    tensors alone gives the first outputs, and the upward sweep parks the rest in its file meanwhile."""

    run: Callable[[State], State]
    modules: tuple[nn.Module, ...]
    up_step: UpStep | None = None
    reads: int | None = None


def module_block(module: nn.Module) -> Block:
    """A module that maps one tensor to one tensor, as a block."""
    return Block(lambda s: (module(s[0]),), (module,))


def batchnorm_link(bn: nn.Module) -> Block:
    """A train-mode BatchNorm on the state's first tensor, the rest carried as it is. Its upward-sweep step is
    taken in closed form: autograd's double backward of a BatchNorm peaks at 7.3 activations, this step at
    4.0, three of them its results (bench/block_floor.py, 256 channels at 64x64)."""

    def up(state: State, dk: Sequence[torch.Tensor], bar_d: Sequence[Maybe],
           g_of: Mapping[int, torch.Tensor]) -> Stepped | None:
        if not (bn.training or getattr(bn, "running_mean", None) is None):
            return None  # normalised by its running statistics: the autograd step
        if any(id(p) in g_of for p in bn.parameters()):
            return None  # its own weights asked for: the autograd step
        with torch.no_grad():  # (the output after the formulas' temporaries are gone)
            adjoint, bar = _batchnorm_second(state[0], dk[0], bar_d[0], bn.weight, bn.eps)
            outputs = (bn(state[0]), *state[1:])
        return outputs, [adjoint, *(None,) * (len(state) - 1)], [bar, *bar_d[1:]], {}

    return Block(lambda s: (bn(s[0]), *s[1:]), (bn,), up, reads=1)


def _batchnorm_second(h: torch.Tensor, dy: torch.Tensor, v: Maybe, gamma: Maybe,
                      eps: float) -> tuple[Maybe, Maybe]:
    """For y = BatchNorm(h) with batch statistics and the input gradient dh = J(h)^T dy: the gradient of <v, dh>
    with respect to h and with respect to dy (J v). Per channel, over the M = N*H*W values, with
    x = (h - mean)/s, s = sqrt(var + eps), a = gamma/s, <.> the mean and P(u) = u - <u> - x <u x>:
    dh = a P(dy); J v = a P(v); d<v, dh>/dh = -(a/s) [x (<v dy> - <v><dy> - <v x><dy x>) + <dy x> P(v)
    + <v x> P(dy)] (x's own derivative is P(.)/s and s's is x/M)."""
    if v is None:
        return None, None
    dims = [0, *range(2, h.dim())]
    shape = [1, -1] + [1] * (h.dim() - 2)

    def mean(t: torch.Tensor) -> torch.Tensor:
        return t.mean(dims, keepdim=True)

    x = h - mean(h)
    s = (mean(x * x) + eps).sqrt()
    x.div_(s)
    a = (1.0 / s) if gamma is None else gamma.detach().view(shape) / s
    v_m, dy_m, v_x, dy_x = mean(v), mean(dy), mean(v * x), mean(dy * x)
    adjoint = x * (mean(v * dy) - v_m * dy_m - v_x * dy_x)
    part = x * dy_x.neg()
    part.add_(dy).sub_(dy_m)  # P(dy)
    adjoint.addcmul_(part, v_x)
    part = x * v_x.neg()
    part.add_(v).sub_(v_m)  # P(v)
    del x
    adjoint.addcmul_(part, dy_x).mul_(-a / s)
    return adjoint, part.mul_(a)


def sum_link() -> Block:
    """The sum of the state's two tensors (a residual block's branch and shortcut). A linear map: its upward
    step adds nothing to Hg and no adjoint, and the cotangent of d_k is the sum of its inputs' (both
    gradients are d_k). Kept as a link of its own rather than joined to the next (see `links`), so that the
    next link's own closed form holds."""

    def up(state: State, dk: Sequence[torch.Tensor], bar_d: Sequence[Maybe],
           g_of: Mapping[int, torch.Tensor]) -> Stepped | None:
        with torch.no_grad():
            return (state[0] + state[1],), [None, None], [_plus(bar_d[0], bar_d[1])], {}

    return Block(lambda s: (s[0] + s[1],), (), up)


def relu_conv_link(relu: nn.Module, conv: nn.Module, keep_input: bool = False) -> Block:
    """ReLU then a convolution on the state's first tensor; with `keep_input` that tensor also stays, as the
    second (a residual block's input carried beside its main branch), otherwise the rest passes through.
    For a bias-free, ungrouped Conv2d whose weight W is asked for, the upward step is taken in closed form:
    autograd's double backward keeps the ReLU's output and the conv's input gradient before and after the
    mask, and peaks at 6.4 activations above its inputs even without the input gradient's cotangent; this
    step, with it, at 4.1 (bench/block_floor.py, 256 channels at 64x64)."""

    def run(s: State) -> State:
        return (conv(relu(s[0])), *s) if keep_input else (conv(relu(s[0])), *s[1:])

    def up(state: State, dk: Sequence[torch.Tensor], bar_d: Sequence[Maybe],
           g_of: Mapping[int, torch.Tensor]) -> Stepped | None:
        plain = (isinstance(relu, nn.ReLU) and type(conv) is nn.Conv2d and conv.bias is None
                 and conv.groups == 1 and conv.padding_mode == "zeros" and isinstance(conv.padding, tuple))
        if not plain or id(conv.weight) not in g_of:
            return None
        rest = [None] * (len(state) - 1)
        y, adjoint, bar, share = _relu_conv_second(state[0], dk[0], bar_d[0], conv, g_of[id(conv.weight)])
        shares = {} if share is None else {id(conv.weight): share}
        if keep_input:
            return (y, *state), [adjoint, *rest], [bar, *bar_d], shares
        return (y, *state[1:]), [adjoint, *rest], [bar, *bar_d[1:]], shares

    return Block(run, (relu, conv), up, reads=None if keep_input else 1)


def _relu_conv_second(h: torch.Tensor, dy: torch.Tensor, v: Maybe, conv: nn.Conv2d,
                      gw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Maybe]:
    """For y = conv(relu(h), W) and its backward dh = m * conv_in_grad(dy, W), dW = conv_w_grad(relu(h), dy)
    (m = [h > 0]): with S = <gw, dW> + <v, dh>, the output y, dS/dh = m * conv_in_grad(dy, gw) (m is locally
    constant), dS/dy = conv(m * v, W) + conv(relu(h), gw) and dS/dW = conv_w_grad(m * v, dy)."""
    w = conv.weight.detach()
    geometry = (conv.stride, conv.padding, conv.dilation)

    def grad_of(dy: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, which: int) -> torch.Tensor:
        mask = (which == 0, which == 1, False)  # the input's or the weight's gradient
        return torch.ops.aten.convolution_backward(dy, x, weight, None, *geometry, False, (0, 0), 1, mask)[which]

    with torch.no_grad():  # (on a CPU each conv kernel takes about one activation of scratch)
        share = bar = None
        if v is not None:
            mv = torch.ops.aten.threshold_backward(v, h, 0)  # m * v
            share = grad_of(dy, mv, w, 1)
            bar = nn.functional.conv2d(mv, w, None, *geometry)
            del mv
        r = torch.relu(h)
        extra = nn.functional.conv2d(r, gw, None, *geometry)
        bar = extra if bar is None else bar.add_(extra)
        del extra
        y = nn.functional.conv2d(r, w, None, *geometry)
        del r
        adjoint = grad_of(dy, h, gw, 0).masked_fill_(h <= 0, 0)
    return y, adjoint, bar, share


def links(*modules: nn.Module) -> list[Block]:
    """Modules that run one after the other, as a chain of small links: what a block-wise product holds at a
    time is one link's double backward, and a BatchNorm's alone is most of a conv-BatchNorm pair's. A module
    with a ``links()`` method gives its own; a plain nn.Sequential is opened, recursively; any other module is
    one link. A link without weights joins the next one that has some, across the modules given (a ReLU the
    conv after it, which keeps its input anyway, not the BatchNorm before it, whose double backward is the
    largest), or the last one. A link with a closed-form upward step stays as it is."""
    joined: list[Block] = []
    waiting: Block | None = None
    for block in _opened(modules):
        if waiting is not None:
            block, waiting = _then(waiting, block), None
        if block.up_step is not None or any(True for m in block.modules for _ in m.parameters()):
            joined.append(block)
        else:
            waiting = block
    if waiting is not None:
        joined = [*joined[:-1], _then(joined[-1], waiting)] if joined else [waiting]
    return joined


def _opened(modules: Sequence[nn.Module]) -> list[Block]:
    found: list[Block] = []
    after_relu = False
    for module in modules:
        own = getattr(module, "links", None)
        if after_relu and type(module) is nn.Conv2d:
            found[-1] = relu_conv_link(found[-1].modules[0], module)
        elif callable(own):
            found += own()
        elif isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
            found += _opened(list(module))
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            found.append(batchnorm_link(module))
        else:
            found.append(module_block(module))
        after_relu = type(module) is nn.ReLU and not callable(own)
    return found


def _then(first: Block, second: Block) -> Block:
    reads = None if first.reads is None or second.reads is None else max(first.reads, second.reads)
    return Block(lambda s: second.run(first.run(s)), first.modules + second.modules, reads=reads)


def spills(t: torch.Tensor) -> bool:
    """Whether what a pass keeps for later of tensors like `t` waits in a temporary file (a `Shelf` with
    `spill`) rather than in memory: on a CPU, where memory is short and the file's pages sit in the OS's
    cache; not on a GPU, whose memory holds them without a trip over the bus."""
    return t.device.type == "cpu"


def chain(net: nn.Module) -> list[Block] | None:
    """The network's block chain, or None when it has none."""
    blocks = getattr(net, "blocks", None)
    return blocks() if callable(blocks) else None


def run_chain(blocks: Sequence[Block], x: torch.Tensor) -> torch.Tensor:
    """The network's output through its chain (equal to ``net(x)``)."""
    state: State = (x,)
    for block in blocks:
        state = block.run(state)
    return state[0]


def hessian_grad(blocks: Sequence[Block], x: torch.Tensor, targets: torch.Tensor,
                 loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 weights: Sequence[torch.Tensor], g: Sequence[torch.Tensor],
                 keep_every: int | None = None, spill: bool = False) -> list[Maybe]:
    """H g for each of `weights` (None where the loss does not reach it): H the Hessian of
    loss_fn(net(x), targets) with respect to all of `weights` jointly, g the given vectors (the loss gradient).
    `keep_every`: which block inputs the forward keeps in memory (default about sqrt(K); 1 keeps all).
    `spill`: keep every block input, boundary gradient and adjoint in a temporary file instead (CPU tensors;
    `keep_every` is then moot)."""
    g_of = {id(w): v for w, v in zip(weights, g, strict=True)}
    mine = [_own_weights(b, g_of) for b in blocks]
    buffers = [(buf, buf.clone()) for b in blocks for m in b.modules for buf in m.buffers()]
    hg: dict[int, Maybe] = {}
    k_last = len(blocks)
    a = d = up_a = parked = None
    try:
        a = BlockInputs(blocks, x, keep_every, spill)
        with torch.enable_grad():
            # the loss gradient at every block boundary, d[k] = dL/da_k (d[0] is never needed)
            d = Shelf(spill)
            out = _leaves(a[k_last])
            dk = _zeros_for_none(vjp([loss_fn(out[0], targets)], out, [None]), out)
            d.put(k_last, dk)
            inp: State = ()
            for k in range(k_last, 1, -1):
                inp = _leaves(a[k - 1])
                dk = _zeros_for_none(vjp(blocks[k - 1].run(inp), inp, dk), inp)
                d.put(k - 1, dk)
                release_memory()
            del dk
            inp = ()  # (it shares the segment's storage)
            a.drop_segment()
            # sweep up: the second-order shares that flow through each block's backward tensors; each block's
            # input is the output of the block below, as rebuilt here
            up_a = Shelf(spill)  # adjoint of a_k from the backward tensors
            parked = Shelf(spill)  # the tensors a link passes through, and their cotangents, meanwhile
            bar_d: list[Maybe] = []  # cotangent of d_(k-1), from the block below
            below: State = a[0]
            for k in range(1, k_last + 1):
                block, ws = blocks[k - 1], mine[k - 1]
                taken = d.take(k)
                n = len(below) if block.reads is None or k == 1 else min(block.reads, len(below))
                if n < len(below):  # what passes through has no second-order share: d_k's part is not needed
                    parked.put(k, [*below[n:], *bar_d[n:]])
                    below, bar_d, taken = below[:n], bar_d[:n], taken[:n]
                closed = block.up_step(below, taken, bar_d, g_of) if block.up_step and k > 1 else None
                if closed is not None:
                    below, adjoint, bar_d, shares = closed
                    for i, share in shares.items():
                        hg[i] = _plus(hg.get(i), share)
                    del closed, taken, shares
                else:
                    below, adjoint, bar_d = _autograd_step(block, ws, g_of, below, taken, bar_d, k == 1, hg)
                    del taken
                if k in parked:
                    rest = parked.take(k)
                    carried = len(rest) // 2
                    below = (*below, *rest[:carried])  # type: ignore[arg-type]
                    adjoint = [*adjoint, *(None,) * carried]
                    bar_d = [*bar_d, *rest[carried:]]
                    del rest
                if k > 1:
                    up_a.put(k - 1, adjoint)
                del adjoint
                release_memory()
            del below
            # at the loss: the loss Hessian in the output times the cotangent of d_K
            out = _leaves(a[k_last])
            (dl,) = vjp([loss_fn(out[0], targets)], out[:1], [None], create_graph=True)
            adj = list(vjp([dl], out[:1], bar_d[:1]))
            del dl, out, bar_d
            # sweep down: the first-order path of that adjoint through each block's forward
            for k in range(k_last, 0, -1):
                block, ws = blocks[k - 1], mine[k - 1]
                inp = _leaves(a[k - 1]) if k > 1 else a[0]
                a.drop_above(k - 1)
                wrt = (list(inp) if k > 1 else []) + ws
                back = vjp(block.run(inp), wrt, adj)
                n_in = len(wrt) - len(ws)
                for w, s in zip(ws, back[n_in:], strict=True):
                    hg[id(w)] = _plus(hg.get(id(w)), s)
                adj = [_plus(u, s) for u, s in zip(up_a.take(k - 1), back[:n_in], strict=True)] if k > 1 else []
                release_memory()
    finally:
        with torch.no_grad():
            for buf, saved in buffers:
                buf.copy_(saved)
        for held in (a, d, up_a, parked):
            if held is not None:
                held.close()
    return [hg.get(id(w)) for w in weights]


def _autograd_step(block: Block, ws: list[torch.Tensor], g_of: dict[int, torch.Tensor], below: State,
                   taken: Sequence[torch.Tensor], bar_d: list[Maybe], first: bool,
                   hg: dict[int, Maybe]) -> Stepped:
    """One upward-sweep step through autograd: block k's backward with a graph, given its input and d_k, then
    that backward's backward with cotangents (g_k, bar d_(k-1)). Adds the block's second-order share to `hg`;
    returns the block's outputs, the inputs' adjoint through the backward tensors (empty for the first
    block, whose input is the network's) and bar d_k."""
    inp = below if first else _leaves(below)
    dk = _leaves(taken)
    wrt = ([] if first else list(inp)) + ws
    outputs = block.run(inp)
    after = tuple(t.detach() for t in outputs)
    firsts = vjp(outputs, wrt, list(dk), create_graph=True)
    del outputs
    n_in = len(wrt) - len(ws)
    outs = list(firsts[n_in:]) + list(firsts[:n_in])
    cots = [g_of[id(w)] for w in ws] + bar_d
    seconds = vjp(outs, wrt + list(dk), cots)
    del firsts, outs
    for w, s in zip(ws, seconds[n_in:n_in + len(ws)], strict=True):
        hg[id(w)] = _plus(hg.get(id(w)), s)
    return after, list(seconds[:n_in]), list(seconds[n_in + len(ws):])


class BlockInputs:
    """The block inputs a_0..a_K without holding them all. With `spill` every one goes to a temporary file
    from one forward and is read back when asked for. Otherwise every `stride`-th (and the output) is kept
    from one forward and the ones between are recomputed a segment at a time when asked for, the segment
    replacing the last: asked for downwards, as the two downward sweeps do, each segment is recomputed once,
    one more forward per sweep for about sqrt(K) stored states in place of K. The recomputed states are the
    stored ones' values: the same blocks on the same inputs, and train-mode BatchNorm normalises by the batch,
    not by the running buffers the extra forwards move (restored by the caller)."""

    def __init__(self, blocks: Sequence[Block], x: torch.Tensor, stride: int | None = None, spill: bool = False):
        self.blocks = blocks
        self.last = len(blocks)
        self.stride = 1 if spill else stride or max(1, math.isqrt(self.last))
        self.shelf = Shelf(True) if spill else None
        self.kept: dict[int, State] = {0: (x.detach(),)}
        self.segment: dict[int, State] = {}
        with torch.no_grad():
            state = self.kept[0]
            for k, block in enumerate(blocks, 1):
                state = tuple(t.detach() for t in block.run(state))
                if self.shelf is not None:
                    self.shelf.put(k, state)
                elif k % self.stride == 0 or k == self.last:
                    self.kept[k] = state

    def __getitem__(self, k: int) -> State:
        if k in self.kept:
            return self.kept[k]
        if self.shelf is not None:
            return tuple(self.shelf.look(k))  # type: ignore[arg-type]
        if k not in self.segment:
            start = k - k % self.stride
            self.segment = {}
            state = self.kept[start]
            with torch.no_grad():
                for i in range(start + 1, min(start + self.stride, self.last)):
                    state = tuple(t.detach() for t in self.blocks[i - 1].run(state))
                    self.segment[i] = state
        return self.segment[k]

    def drop_segment(self) -> None:
        self.segment = {}

    def drop_above(self, k: int) -> None:
        """Forget the states past a_k (a downward sweep no longer needs them)."""
        self.kept = {i: s for i, s in self.kept.items() if i <= k}
        self.segment = {i: s for i, s in self.segment.items() if i <= k}

    def close(self) -> None:
        if self.shelf is not None:
            self.shelf.close()
        self.kept, self.segment = {}, {}


class Shelf:
    """Per-boundary lists of tensors (or None), each put once: in memory, or with `spill` in an unnamed
    temporary file, so that a sweep holds only the boundary in hand. The values come back bit for bit;
    the file's pages sit in the OS's page cache, not in the process's resident memory."""

    def __init__(self, spill: bool = False):
        self.held: dict[int, list[Maybe]] = {}
        self.where: dict[int, list[tuple[int, torch.Size, torch.dtype, torch.device] | None]] = {}
        self.file = tempfile.TemporaryFile(prefix="swapbench-blockwise-") if spill else None
        self.end = 0

    def put(self, k: int, tensors: Sequence[Maybe]) -> None:
        if self.file is None:
            self.held[k] = list(tensors)
            return
        entries: list[tuple[int, torch.Size, torch.dtype, torch.device] | None] = []
        for t in tensors:
            if t is None:
                entries.append(None)
                continue
            raw = memoryview(t.detach().contiguous().cpu().view(-1).view(torch.uint8).numpy())
            done = 0
            while done < len(raw):  # one call writes at most ~2 GiB
                done += os.pwrite(self.file.fileno(), raw[done:], self.end + done)
            entries.append((self.end, t.shape, t.dtype, t.device))
            self.end += len(raw)
        self.where[k] = entries

    def __contains__(self, k: int) -> bool:
        return k in (self.held if self.file is None else self.where)

    def take(self, k: int) -> list[Maybe]:
        """The tensors put at `k`, forgotten here."""
        found = self.look(k)
        (self.held if self.file is None else self.where).pop(k)
        return found

    def look(self, k: int) -> list[Maybe]:
        """The tensors put at `k`, kept for another look (read anew from the file each time)."""
        if self.file is None:
            return list(self.held[k])
        found: list[Maybe] = []
        for entry in self.where[k]:
            if entry is None:
                found.append(None)
                continue
            offset, shape, dtype, device = entry
            out = torch.empty(shape, dtype=dtype)
            view = memoryview(out.view(-1).view(torch.uint8).numpy())
            done = 0
            while done < len(view):
                done += os.preadv(self.file.fileno(), [view[done:]], offset + done)
            found.append(out.to(device))
        return found

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        self.held.clear()
        self.where.clear()


def _own_weights(block: Block, g_of: dict[int, torch.Tensor]) -> list[torch.Tensor]:
    """The weights asked for that the block's modules hold, each once, in module order."""
    found: dict[int, torch.Tensor] = {}
    for module in block.modules:
        for p in module.parameters():
            if id(p) in g_of:
                found.setdefault(id(p), p)
    return list(found.values())


def _leaves(state: Sequence[Maybe] | None) -> State:
    """The state's tensors, detached, as inputs that autograd tracks."""
    assert state is not None and all(t is not None for t in state)
    return tuple(t.detach().requires_grad_(t.is_floating_point()) for t in state)  # type: ignore[union-attr]


def vjp(outputs: Sequence[Maybe], inputs: Sequence[torch.Tensor], cotangents: Sequence[Maybe],
         create_graph: bool = False) -> tuple[Maybe, ...]:
    """The gradients of sum <output, cotangent> with respect to `inputs` (None where none reaches one).
    A None cotangent of a scalar output is 1; outputs that do not depend on a tracked input are skipped."""
    pairs = [(o, c) for o, c in zip(outputs, cotangents, strict=True)
             if o is not None and o.requires_grad and (c is not None or o.dim() == 0)]
    if not pairs or not inputs:
        return (None,) * len(inputs)
    found = torch.autograd.grad([o for o, _ in pairs], list(inputs), [c for _, c in pairs],
                                create_graph=create_graph, allow_unused=True)
    return tuple(found)


def _zeros_for_none(found: Sequence[Maybe], like: State) -> list[Maybe]:
    return [torch.zeros_like(t) if f is None else f for f, t in zip(found, like, strict=True)]


def _plus(a: Maybe, b: Maybe) -> Maybe:
    if a is None:
        return b
    return a if b is None else a + b
