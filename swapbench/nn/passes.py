"""Gradient passes several metrics read: one train-mode forward with the backwards that hang off it (the task
loss gradient with the Fisher channel vector, the input Jacobian, GraSP's Hessian-gradient product, the
activation calls), and the weight gradients of equal sub-batches.

They run on the network they are given and never change a weight; callers that must keep their network
untouched hand in a copy. Which metric reads which part is the caller's business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from swapbench.nn.blockwise import chain, hessian_grad, spills, vjp
from swapbench.nn.checkpointing import checkpointing
from swapbench.nn.hooks import ActivationCall, activation_recorder, recorded_modules

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
PARTS = ("loss", "jacobian", "hvp", "activations")  # the parts `backwards` can compute, in this order


def weight_layers(net: nn.Module) -> list[nn.Module]:
    """Every nn.Conv2d and nn.Linear, in ``net.modules()`` order (ConvTranspose2d is not a Conv2d)."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def layer_sum(values: Iterable[torch.Tensor]) -> float:
    """NAS-Bench-Suite-Zero's ``sum_arr``: the sum over layers of the sum over each layer's elements. Pass a
    generator where each value is a new weight-sized tensor: one then lives at a time."""
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


@dataclass
class LossPass:
    """What the backwards of one forward give, per part computed (None where not computed).

    loss: per scored layer the weight, dL/dW as ``.grad`` would hold it (zeros when unused or not a leaf)
    and the Fisher channel vector; jacobian: J (N x D) and the output width; hvp: grasp's sum of -W * Hg;
    activations: the activation calls of the forward (see hooks.activation_recorder).
    """

    parts: tuple[str, ...]
    weights: list[torch.Tensor]
    grads: list[torch.Tensor]
    fisher: list[torch.Tensor]  # 1/2 mean_n (sum_spatial a * dL/da)^2 per output channel, zeros if unused
    jacobian: np.ndarray | None = None
    width: int = 0
    grasp: float | None = None
    activations: list[ActivationCall] | None = None


def backwards(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
              parts: tuple[str, ...]) -> LossPass:
    """One forward (recording the activation calls when asked); then, from its graph, the loss gradient
    (with a graph when grasp needs it), the input Jacobian of the summed output, and grasp's
    Hessian-gradient product; `parts` names which (a subset of PARTS).

    Each backward asks autograd for exactly what the separate passes read: the loss gradient of every
    Conv2d/Linear weight (the values ``loss.backward()`` leaves in their ``.grad``), the gradient of the input
    alone, and the gradient of z = sum_l <g_l, g_graph_l> with respect to those weights. The forward is the same
    train-mode forward of the same network on the same batch, so the numbers are the separate passes'
    (bit for bit on every space of bench/differential.py; the activation inputs are those of a no-grad
    forward, as autograd does not change the forward's arithmetic). On a checkpointed network with a block chain,
    grasp's product is taken block by block once the rest is done (swapbench.nn.blockwise; equal to rounding).
    """
    layers = weight_layers(net)
    # only the scored weights: every metric reads those, and a gradient does not depend on which others are
    # asked for (BatchNorm and bias gradients would cost time, and graph, for nothing)
    params = list({id(m.weight): m.weight for m in layers if m.weight.requires_grad}.values())
    want_loss, want_jac, want_hvp = ("loss" in parts), ("jacobian" in parts), ("hvp" in parts)
    fisher: dict[int, torch.Tensor] = {}
    collecting = [want_loss]  # the Fisher hooks read only the task-loss backward
    handles: list = []
    recorder: list = []
    # With checkpointed blocks the Fisher taps are autograd nodes that save their input, so a block's
    # activations are recomputed for them like any saved tensor (a tensor hook would hold every layer's output
    # until the backward); the taps then stay in place through every backward, so that each recomputed
    # block saves what its first forward saved.
    tapped = checkpointing(net)
    # ... and grasp's Hessian-gradient product then goes one block at a time (swapbench.nn.blockwise), after
    # this pass, so that the loss gradient needs no graph of its own
    blocks = chain(net) if tapped and want_hvp else None
    graph_hvp = want_hvp and blocks is None

    def add_fisher(layer: nn.Module, act: torch.Tensor, grad: torch.Tensor) -> None:
        if not collecting[0]:
            return
        prod = act.detach() * grad.detach()
        per_channel = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
        delta = per_channel.pow(2).mean(0).mul(0.5)
        key = id(layer)
        fisher[key] = delta if key not in fisher else fisher[key] + delta

    def forward_hook(layer: nn.Module, _args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        if not output.requires_grad:
            return None
        if tapped:
            return _FisherTap.apply(output, lambda act, grad: add_fisher(layer, act, grad))
        act = output.detach()
        output.register_hook(lambda grad: add_fisher(layer, act, grad))
        return None

    if want_loss:
        handles = [layer.register_forward_hook(forward_hook) for layer in layers]
    if "activations" in parts:
        record, calls, seen = activation_recorder()
        recorder = [m.register_forward_hook(record) for m in recorded_modules(net)]
    x = inputs.detach().clone().requires_grad_(True) if want_jac else inputs
    result = LossPass(parts, [], [], [])
    try:
        with torch.enable_grad():
            out = first_tensor(net(x))
            for h in recorder:
                h.remove()
            recorder = []
            if not tapped:  # the taps stay for the backwards; the tensor hooks are already on the outputs
                for h in handles:
                    h.remove()
                handles = []
            if "activations" in parts:
                result.activations = calls
                seen.clear()  # the record of inputs seen is only needed during the forward
            graph_grads: dict[int, torch.Tensor] = {}
            if want_loss:
                loss = loss_fn(out, targets)
                found = torch.autograd.grad(loss, params, retain_graph=want_jac or graph_hvp,
                                            create_graph=graph_hvp, allow_unused=True) if params else ()
                collecting[0] = False
                graph_grads = {id(p): g for p, g in zip(params, found, strict=True) if g is not None}
                result.weights = [m.weight.detach() for m in layers]
                result.grads = [graph_grads[id(m.weight)].detach() if id(m.weight) in graph_grads
                                else torch.zeros_like(m.weight) for m in layers]
                result.fisher = [fisher.get(id(m), torch.zeros(m.weight.shape[0], device=m.weight.device)).detach()
                                 for m in layers]
            if want_jac:
                (jx,) = torch.autograd.grad(out, [x], torch.ones_like(out), retain_graph=graph_hvp)
                result.jacobian = jx.detach().reshape(x.shape[0], -1).cpu().numpy()
                result.width = int(out.shape[-1])
            if graph_hvp:
                result.grasp = _grasp_sum(layers, params, graph_grads)
    finally:
        for h in handles + recorder:
            h.remove()
    if blocks is not None:
        del out, graph_grads  # the pass's graph, before the blocks are rebuilt one by one
        g_of = {id(m.weight): g for m, g in zip(layers, result.grads, strict=True)}
        hg = hessian_grad(blocks, inputs, targets, loss_fn, params, [g_of[id(p)] for p in params],
                          spill=spills(inputs))
        result.grasp = _grasp_total(layers, {id(p): h for p, h in zip(params, hg, strict=True) if h is not None})
    return result


class _FisherTap(torch.autograd.Function):
    """The identity, whose backward hands its saved input and the incoming gradient to `sink`."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sink: Callable) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.sink = sink
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        with torch.no_grad():
            ctx.sink(x, grad)
        return grad, None


def _grasp_sum(layers: list[nn.Module], params: list[torch.Tensor], graph_grads: dict[int, torch.Tensor]) -> float:
    """sum_l -W_l * (H g)_l: the gradient of z = sum_l <g_l, g_graph_l> (g constant) with respect to the scored
    weights, taken as the backward of the g_graph_l with g_l as their output gradients (dz/dg_graph_l = g_l
    exactly, so this is z's backward without building z)."""
    outputs = [graph_grads.get(id(m.weight)) for m in layers]
    hg = vjp(outputs, params, [None if o is None else o.detach() for o in outputs])  # params: the scored weights
    return _grasp_total(layers, {id(p): g for p, g in zip(params, hg, strict=True) if g is not None})


def _grasp_total(layers: list[nn.Module], by_param: dict[int, torch.Tensor]) -> float:
    """sum_l -W_l * (H g)_l over the scored layers, from H g per weight (a layer without one adds 0)."""
    return layer_sum(
        -m.weight.detach() * by_param[id(m.weight)] if id(m.weight) in by_param else torch.zeros_like(m.weight)
        for m in layers
    )


def sub_batch_grads(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
                    batches: int) -> list[torch.Tensor]:
    """Per scored layer, a (B, numel) tensor: row b = dL_b/dW on the b-th of B equal sub-batches, each from
    zeroed gradients. Runs on `net` itself in train mode (hand in a private copy): its ``.grad`` fields end cleared, its
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
