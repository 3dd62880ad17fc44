"""Helpers shared by the baseline metrics: the scored layers, per-layer sums, and the passes that several
metrics of one architecture can share through ``ProxyContext.shared``.

The shared passes run on one private deep copy of the network per architecture (`scratch_net`), taken
from the first network a metric hands in: the architecture's network as built, or a harness copy of it
that the metric has not changed yet. None of these passes changes a weight, and a train-mode forward does
not read the BatchNorm running statistics it updates, so a shared result is identical to what each metric
would compute on its own fresh copy, whichever metric asks first; the caller's network (its running
statistics, its ``.grad`` fields) stays untouched. Metrics that only read shared results therefore need
no copy of their own (``copy_net=False``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from swapbench.proxies._patterns import call_identity
from swapbench.proxies.registry import ProxyContext

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------------
# scored layers


def weight_layers(net: nn.Module) -> list[nn.Module]:
    """Every nn.Conv2d and nn.Linear, in ``net.modules()`` order (ConvTranspose2d is not a Conv2d)."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def layer_sum(values: Sequence[torch.Tensor]) -> float:
    """NAS-Bench-Suite-Zero's ``sum_arr``: the sum over layers of the sum over each layer's elements."""
    total = 0.0
    for v in values:
        total += float(v.detach().sum())
    return total


def first_tensor(output: object) -> torch.Tensor:
    """The network output as one tensor (a tuple output keeps its first element)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(f"network output of type {type(output).__name__} is not a tensor")


def is_project_class(module: nn.Module) -> bool:
    """A module class defined by this project (NASLib's nwot excludes its own classes the same way)."""
    return type(module).__module__.startswith("swapbench")


# ---------------------------------------------------------------------------------------------
# the private network of the shared passes


def scratch_net(net: nn.Module, ctx: ProxyContext) -> nn.Module:
    """One train-mode deep copy per architecture for every shared pass that leaves the weights as built
    (task-loss gradients, input Jacobian, grasp's Hessian product, sub-batch gradients, the activation
    forward). Those passes only add gradients (never stored in ``.grad`` except by the sub-batch pass,
    which zeroes them first) and move BatchNorm running statistics, which a train-mode forward does not
    read, so each pass sees exactly the network a fresh copy would give it."""
    return ctx.shared(("scratch_net",), lambda: copy.deepcopy(net).train())


# ---------------------------------------------------------------------------------------------
# shared pass 1: one train-mode forward of the whole batch and the backwards that hang off it


LOSS_USERS = frozenset({"plain", "grad_norm", "snip", "fisher", "grasp"})
JACOBIAN_USERS = frozenset({"jacov", "epe_nas"})
HVP_USERS = frozenset({"grasp"})
ACTIVATION_USERS = frozenset({"nwot", "num_lr", "lswag"})
_PARTS = ("loss", "jacobian", "hvp", "activations")


@dataclass
class LossPass:
    """What the backwards of one forward give, per part computed (None where not computed).

    loss: per scored layer the weight, dL/dW as ``.grad`` would hold it (zeros when unused or not a leaf)
    and the Fisher channel vector; jacobian: J (N x D) and the output width; hvp: grasp's sum of -W * Hg;
    activations: the activation calls of the forward (see `activation_calls`).
    """

    parts: tuple[str, ...]
    weights: list[torch.Tensor]
    grads: list[torch.Tensor]
    fisher: list[torch.Tensor]  # 1/2 mean_n (sum_spatial a * dL/da)^2 per output channel, zeros if unused
    jacobian: np.ndarray | None = None
    width: int = 0
    grasp: float | None = None
    activations: list[ActivationCall] | None = None


def _backwards(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
               parts: tuple[str, ...]) -> LossPass:
    """One forward (recording the activation calls when asked); then, from its graph, the loss gradient
    (with a graph when grasp needs it), the input Jacobian of the summed output, and grasp's
    Hessian-gradient product.

    Each backward asks autograd for exactly what the separate passes obtained: the loss gradient of every
    parameter that requires grad (what ``loss.backward()`` fills), the gradient of the input alone, and
    the gradient of z = sum_l <g_l, g_graph_l> with respect to the parameters. The forward is the same
    train-mode forward of the same network on the same batch, so the numbers are the separate passes'
    (bit for bit on every space of bench/differential.py; the activation inputs are those of a no-grad
    forward, as autograd does not change the forward's arithmetic).
    """
    layers = weight_layers(net)
    params = [p for p in net.parameters() if p.requires_grad]
    want_loss, want_jac, want_hvp = ("loss" in parts), ("jacobian" in parts), ("hvp" in parts)
    fisher: dict[int, torch.Tensor] = {}
    collecting = [want_loss]  # the Fisher hooks read only the task-loss backward
    handles = []

    def forward_hook(layer: nn.Module, _args: tuple, output: torch.Tensor) -> None:
        act = output.detach()

        def grad_hook(grad: torch.Tensor) -> None:
            if not collecting[0]:
                return
            prod = act * grad.detach()
            per_channel = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
            delta = per_channel.pow(2).mean(0).mul(0.5)
            key = id(layer)
            fisher[key] = delta if key not in fisher else fisher[key] + delta

        if output.requires_grad:
            output.register_hook(grad_hook)

    if want_loss:
        handles = [layer.register_forward_hook(forward_hook) for layer in layers]
    if "activations" in parts:
        record, calls, seen = activation_recorder()
        handles += [m.register_forward_hook(record) for m in recorded_modules(net)]
    x = inputs.detach().clone().requires_grad_(True) if want_jac else inputs
    result = LossPass(parts, [], [], [])
    try:
        with torch.enable_grad():
            out = first_tensor(net(x))
            for h in handles:
                h.remove()
            handles = []
            if "activations" in parts:
                result.activations = calls
                seen.clear()  # the activation inputs need not outlive the forward (the backwards don't read them)
            graph_grads: dict[int, torch.Tensor] = {}
            if want_loss:
                loss = loss_fn(out, targets)
                found = torch.autograd.grad(loss, params, retain_graph=want_jac or want_hvp,
                                            create_graph=want_hvp, allow_unused=True)
                collecting[0] = False
                graph_grads = {id(p): g for p, g in zip(params, found, strict=True) if g is not None}
                result.weights = [m.weight.detach() for m in layers]
                result.grads = [graph_grads[id(m.weight)].detach() if id(m.weight) in graph_grads
                                else torch.zeros_like(m.weight) for m in layers]
                result.fisher = [fisher.get(id(m), torch.zeros(m.weight.shape[0], device=m.weight.device)).detach()
                                 for m in layers]
            if want_jac:
                (jx,) = torch.autograd.grad(out, [x], torch.ones_like(out), retain_graph=want_hvp)
                result.jacobian = jx.detach().reshape(x.shape[0], -1).cpu().numpy()
                result.width = int(out.shape[-1])
            if want_hvp:
                result.grasp = _grasp_sum(layers, params, graph_grads)
    finally:
        for h in handles:
            h.remove()
    return result


def _grasp_sum(layers: list[nn.Module], params: list[torch.Tensor], graph_grads: dict[int, torch.Tensor]) -> float:
    """sum_l -W_l * (H g)_l with z = sum_l <g_l, g_graph_l> (g constant) back-propagated to the parameters."""
    z = None
    for m in layers:
        g_graph = graph_grads.get(id(m.weight))
        if g_graph is not None:
            term = (g_graph.detach() * g_graph).sum()
            z = term if z is None else z + term
    if z is None or not z.requires_grad:
        return 0.0
    # only the scored weights: the BatchNorm and bias entries of z.backward() are never read
    scored = [p for p in params if id(p) in {id(m.weight) for m in layers}]
    hg = torch.autograd.grad(z, scored, allow_unused=True)
    by_param = {id(p): g for p, g in zip(scored, hg, strict=True) if g is not None}
    return layer_sum([
        -m.weight.detach() * by_param[id(m.weight)] if id(m.weight) in by_param else torch.zeros_like(m.weight)
        for m in layers
    ])


def planned_parts(ctx: ProxyContext, need: str) -> tuple[str, ...]:
    """The parts of pass 1 that the architecture's planned metrics use (at least `need`)."""
    wanted = {need}
    if LOSS_USERS & ctx.planned:
        wanted.add("loss")
    if JACOBIAN_USERS & ctx.planned:
        wanted.add("jacobian")
    if HVP_USERS & ctx.planned:
        wanted.add("hvp")
    if ACTIVATION_USERS & ctx.planned:
        wanted.add("activations")
    if "hvp" in wanted:
        wanted.add("loss")  # grasp's constant g is the loss gradient
    return tuple(p for p in _PARTS if p in wanted)


def _memo_pass(ctx: ProxyContext, need: str) -> LossPass | None:
    for key, value in ctx.memo.items():
        if isinstance(key, tuple) and key[0] == "backward_pass" and need in key[1]:
            return value
    return None


def backward_pass(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
                  ctx: ProxyContext, need: str) -> LossPass:
    """Pass 1 with part `need`, run once per architecture for every part its planned metrics use."""
    done = _memo_pass(ctx, need)
    if done is not None:
        return done
    parts = planned_parts(ctx, need)
    return ctx.shared(("backward_pass", parts),
                      lambda: _backwards(scratch_net(net, ctx), inputs, targets, loss_fn, parts))


def loss_pass(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
              ctx: ProxyContext) -> LossPass:
    """The task-loss gradients of plain, grad_norm, snip, fisher and grasp."""
    return backward_pass(net, inputs, targets, loss_fn, ctx, "loss")


# ---------------------------------------------------------------------------------------------
# shared pass 2: weight gradients of B sub-batches (ZiCo, L-SWAG)


def sub_batch_grads(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
                 batches: int) -> list[torch.Tensor]:
    """Runs on `net` itself in train mode (hand in a private copy): its ``.grad`` fields end cleared, its
    BatchNorm running statistics move."""
    net.train()
    layers = weight_layers(net)
    per_batch: list[list[torch.Tensor]] = []
    with torch.enable_grad():
        for x, y in zip(torch.chunk(inputs, batches), torch.chunk(targets, batches), strict=True):
            net.zero_grad(set_to_none=True)
            loss_fn(first_tensor(net(x)), y).backward()
            per_batch.append([
                m.weight.grad.detach().reshape(-1).clone() if m.weight.grad is not None
                else torch.zeros(m.weight.numel(), device=m.weight.device)
                for m in layers
            ])
    net.zero_grad(set_to_none=True)
    return [torch.stack([g[i] for g in per_batch]) for i in range(len(layers))]


def population_std(rows: torch.Tensor) -> torch.Tensor:
    """Per column of a (B, n) tensor, the population standard deviation (ddof 0) over the B rows, as
    sqrt(mean_b (x_b - mean)^2). ``Tensor.std(dim=0)`` reduces across a strided dimension with Welford's
    update and takes several times longer on the tens of millions of weights of a TNB101 network; the
    two agree to the last bit or two of a float64 (relative 1e-16), far below any score difference."""
    mean = rows.mean(dim=0)
    return (rows - mean).pow_(2).mean(dim=0).sqrt_()


def split_grads(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
                ctx: ProxyContext, batches: int) -> list[torch.Tensor]:
    """Per scored layer, a (B, numel) tensor: row b = dL_b/dW on the b-th of B equal sub-batches,
    each computed from zeroed gradients (cumulative sums are derived by the caller)."""
    if batches < 1 or batches > inputs.shape[0]:
        raise ValueError(f"cannot split a batch of {inputs.shape[0]} into {batches} sub-batches")
    return ctx.shared(("split_grads", batches),
                      lambda: sub_batch_grads(scratch_net(net, ctx), inputs, targets, loss_fn, batches))


# ---------------------------------------------------------------------------------------------
# shared pass 3: the input Jacobian of the summed output (jacov, epe_nas)


def input_jacobian(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
                   ctx: ProxyContext) -> tuple[np.ndarray, int]:
    """J (N x D, float32): row n = d(sum of all outputs)/d x_n; and the output width. A backward of the
    forward of pass 1 (shared with the loss metrics and grasp when they are planned too)."""
    lp = backward_pass(net, inputs, targets, loss_fn, ctx, "jacobian")
    assert lp.jacobian is not None
    return lp.jacobian, lp.width


# ---------------------------------------------------------------------------------------------
# shared pass 4: binarised activations of one no-grad forward (nwot, num_lr, L-SWAG's Psi)

_BITS = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8)


def pack_samples(active: torch.Tensor) -> torch.Tensor:
    """(S, M) bool -> (S, ceil(M/8)) uint8, unit m of sample s at bit m % 8 of byte m // 8."""
    s, m = active.shape
    nbytes = (m + 7) // 8
    padded = torch.zeros((s, nbytes * 8), dtype=torch.uint8, device=active.device)
    padded[:, :m] = active
    return (padded.view(s, nbytes, 8) * _BITS.to(active.device)).sum(dim=2, dtype=torch.uint8)


def unpack_samples(bits: torch.Tensor, units: int) -> torch.Tensor:
    """Inverse of `pack_samples`: (S, ceil(M/8)) uint8 -> (S, M) bool."""
    s, nbytes = bits.shape
    out = bits.unsqueeze(-1).bitwise_and(_BITS.to(bits.device)) != 0
    return out.reshape(s, nbytes * 8)[:, :units]


@dataclass
class ActivationCall:
    """One call of an activation module in the forward, with 1[input > 0] per sample and unit.

    For ReLU, LeakyReLU and GELU, input > 0 is the same as output > 0.
    """

    name: str  # class name
    relu: bool  # isinstance nn.ReLU
    gelu: bool  # isinstance nn.GELU
    relu_named: bool  # class name contains "ReLU" and the class is not one of this project's
    dim: int  # dimensionality of the input tensor
    units: int  # units per sample
    bits: torch.Tensor  # (S, ceil(units/8)) uint8, see pack_samples
    duplicate: bool  # same input tensor as an earlier call of the same class (identical bits)


def _is_recorded(m: nn.Module) -> bool:
    return isinstance(m, (nn.ReLU, nn.GELU)) or ("ReLU" in type(m).__name__ and not is_project_class(m))


def record_activations(net: nn.Module, inputs: torch.Tensor) -> list[ActivationCall]:
    """Unshared `activation_calls`: for a network whose weights the caller has changed (on a copy)."""
    return _record(copy.deepcopy(net).train(), inputs)


def _record(net: nn.Module, inputs: torch.Tensor) -> list[ActivationCall]:
    hook, calls, _ = activation_recorder()
    hooked_forward(net, recorded_modules(net), hook, inputs)
    return calls


def recorded_modules(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if _is_recorded(m)]


def activation_recorder() -> tuple[Callable, list[ActivationCall], dict]:
    """A forward hook for `recorded_modules`, the list it fills (one ActivationCall per call), and the
    inputs it keeps alive during the forward (clear it once the forward is over)."""
    calls: list[ActivationCall] = []
    seen: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # keeps the tensors (and their storage) alive

    def hook(module: nn.Module, args: tuple, _output: torch.Tensor) -> None:
        x = args[0]
        ident = call_identity(module, x)
        duplicate = ident in seen
        if duplicate:
            bits = seen[ident][1]
        else:
            bits = pack_samples(x.detach().reshape(x.shape[0], -1) > 0)
            seen[ident] = (x, bits)
        calls.append(ActivationCall(
            name=type(module).__name__,
            relu=isinstance(module, nn.ReLU),
            gelu=isinstance(module, nn.GELU),
            relu_named="ReLU" in type(module).__name__ and not is_project_class(module),
            dim=x.dim(),
            units=int(x[0].numel()),
            bits=bits,
            duplicate=duplicate,
        ))

    return hook, calls, seen


def hooked_forward(net: nn.Module, modules: list[nn.Module], hook: Callable, inputs: torch.Tensor) -> Any:
    """One no-grad forward with `hook` as a forward hook on `modules`, removed again even if the forward fails."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            return net(inputs)
    finally:
        for h in handles:
            h.remove()


def activation_calls(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
                     ctx: ProxyContext) -> list[ActivationCall]:
    """Every call, in forward order, of nn.ReLU, nn.GELU or a non-project class whose name contains
    "ReLU", in one train-mode no-grad forward of the batch on the network's own initialisation."""
    if (LOSS_USERS | JACOBIAN_USERS | HVP_USERS) & ctx.planned or _memo_pass(ctx, "activations") is not None:
        # a backward pass is planned anyway: its forward (same network, batch and train mode) records them
        calls = backward_pass(net, inputs, targets, loss_fn, ctx, "activations").activations
        assert calls is not None
        return calls
    return ctx.shared(("activation_calls",), lambda: _record(scratch_net(net, ctx), inputs))


def distinct_rows(rows: torch.Tensor) -> int:
    """Number of distinct rows of a 2-D tensor."""
    if rows.shape[0] == 0:
        return 0
    return int(torch.unique(rows, dim=0).shape[0])
