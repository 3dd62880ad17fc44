"""Helpers shared by the baseline metrics: the scored layers, per-layer sums, and the passes that several
metrics of one architecture can share through ``ProxyContext.shared``.

Every shared pass runs on its own deep copy of the network it is handed. The harness gives each metric a
fresh copy of the same freshly built network, so a shared result is identical to what each metric would
compute on its own copy, whichever metric asks first; the copy also keeps the caller's network (its
BatchNorm running statistics, its ``.grad`` fields) untouched.
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
# shared pass 1: one forward/backward of the task loss on the whole batch


@dataclass
class LossPass:
    """Per scored layer: the weight, dL/dW (zeros when unused) and the Fisher channel vector."""

    weights: list[torch.Tensor]
    grads: list[torch.Tensor]
    fisher: list[torch.Tensor]  # 1/2 mean_n (sum_spatial a * dL/da)^2 per output channel, zeros if unused


def _loss_pass(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn) -> LossPass:
    net = copy.deepcopy(net)
    net.train()
    layers = weight_layers(net)
    fisher: dict[int, torch.Tensor] = {}
    handles = []

    def forward_hook(layer: nn.Module, _args: tuple, output: torch.Tensor) -> None:
        act = output.detach()

        def grad_hook(grad: torch.Tensor) -> None:
            prod = act * grad.detach()
            per_channel = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
            delta = per_channel.pow(2).mean(0).mul(0.5)
            key = id(layer)
            fisher[key] = delta if key not in fisher else fisher[key] + delta

        if output.requires_grad:
            output.register_hook(grad_hook)

    for layer in layers:
        handles.append(layer.register_forward_hook(forward_hook))
    try:
        with torch.enable_grad():
            net.zero_grad(set_to_none=True)
            loss = loss_fn(first_tensor(net(inputs)), targets)
            loss.backward()
    finally:
        for h in handles:
            h.remove()
    weights = [m.weight.detach().clone() for m in layers]
    grads = [
        m.weight.grad.detach().clone() if m.weight.grad is not None else torch.zeros_like(m.weight)
        for m in layers
    ]
    fish = [
        fisher.get(id(m), torch.zeros(m.weight.shape[0], device=m.weight.device)).detach() for m in layers
    ]
    return LossPass(weights, grads, fish)


def loss_pass(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
              ctx: ProxyContext) -> LossPass:
    """Shared by plain, grad_norm, snip, fisher and grasp (pass 1)."""
    return ctx.shared(("loss_pass",), lambda: _loss_pass(net, inputs, targets, loss_fn))


# ---------------------------------------------------------------------------------------------
# shared pass 2: weight gradients of B sub-batches (ZiCo, L-SWAG)


def sub_batch_grads(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
                 batches: int) -> list[torch.Tensor]:
    net = copy.deepcopy(net)
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
    return [torch.stack([g[i] for g in per_batch]) for i in range(len(layers))]


def split_grads(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
                ctx: ProxyContext, batches: int) -> list[torch.Tensor]:
    """Per scored layer, a (B, numel) tensor: row b = dL_b/dW on the b-th of B equal sub-batches,
    each computed from zeroed gradients (cumulative sums are derived by the caller)."""
    if batches < 1 or batches > inputs.shape[0]:
        raise ValueError(f"cannot split a batch of {inputs.shape[0]} into {batches} sub-batches")
    return ctx.shared(("split_grads", batches),
                      lambda: sub_batch_grads(net, inputs, targets, loss_fn, batches))


# ---------------------------------------------------------------------------------------------
# shared pass 3: the input Jacobian of the summed output (jacov, epe_nas)


def _input_jacobian(net: nn.Module, inputs: torch.Tensor) -> tuple[np.ndarray, int]:
    net = copy.deepcopy(net)
    net.train()
    x = inputs.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = first_tensor(net(x))
        y.backward(torch.ones_like(y))
    jac = x.grad.detach().reshape(x.shape[0], -1).cpu().numpy()
    return jac, int(y.shape[-1])


def input_jacobian(net: nn.Module, inputs: torch.Tensor, ctx: ProxyContext) -> tuple[np.ndarray, int]:
    """J (N x D, float32): row n = d(sum of all outputs)/d x_n; and the output width."""
    return ctx.shared(("input_jacobian",), lambda: _input_jacobian(net, inputs))


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
    """Unshared `activation_calls`: for a network whose weights the caller has changed."""
    net = copy.deepcopy(net)
    net.train()
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

    hooked_forward(net, [m for m in net.modules() if _is_recorded(m)], hook, inputs)
    return calls


def hooked_forward(net: nn.Module, modules: list[nn.Module], hook: Callable, inputs: torch.Tensor) -> Any:
    """One no-grad forward with `hook` as a forward hook on `modules`, removed again even if the forward fails."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            return net(inputs)
    finally:
        for h in handles:
            h.remove()


def activation_calls(net: nn.Module, inputs: torch.Tensor, ctx: ProxyContext) -> list[ActivationCall]:
    """Every call, in forward order, of nn.ReLU, nn.GELU or a non-project class whose name contains
    "ReLU", in one train-mode no-grad forward of the batch on the network's own initialisation."""
    return ctx.shared(("activation_calls",), lambda: record_activations(net, inputs))


def distinct_rows(rows: torch.Tensor) -> int:
    """Number of distinct rows of a 2-D tensor."""
    if rows.shape[0] == 0:
        return 0
    return int(torch.unique(rows, dim=0).shape[0])
