"""The passes that several metrics of one architecture share through ``ProxyContext.shared`` (the passes
themselves are in swapbench.nn.passes), and which metrics read which part of them.

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
from collections.abc import Hashable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from swapbench.nn.hooks import ActivationCall, record_calls
from swapbench.nn.passes import PARTS, LossFn, LossPass, backwards, sub_batch_grads
from swapbench.proxies.registry import ProxyContext

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


# which metrics read each kind of shared result: once none of an architecture's metrics still to come does,
# `release_spent` drops it; a kind not listed here stays until the architecture is done
READERS: dict[str, frozenset[str]] = {
    "backward_pass": LOSS_USERS | JACOBIAN_USERS | HVP_USERS | ACTIVATION_USERS,
    "activation_calls": ACTIVATION_USERS,
    "split_grads": frozenset({"zico", "lswag"}),
}
READERS["scratch_net"] = frozenset().union(*READERS.values())


def release_spent(memo: dict[Hashable, Any], to_come: Iterable[str]) -> None:
    """Drop from an architecture's memo the shared results that none of the metrics `to_come` reads, so that
    they do not sit under the rest (on a TransNAS-Bench-101 network the pass-1 gradients, the sub-batch
    gradients and the scratch copy are 0.1-0.2 GiB each). A metric this table does not know would compute a
    dropped one again, to the same values."""
    later = frozenset(to_come)
    for key in list(memo):
        readers = READERS.get(key[0] if isinstance(key, tuple) else key)
        if readers is not None and not readers & later:
            del memo[key]


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
    return tuple(p for p in PARTS if p in wanted)


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
                      lambda: backwards(scratch_net(net, ctx), inputs, targets, loss_fn, parts))


def loss_pass(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
              ctx: ProxyContext) -> LossPass:
    """The task-loss gradients of plain, grad_norm, snip, fisher and grasp."""
    return backward_pass(net, inputs, targets, loss_fn, ctx, "loss")


# ---------------------------------------------------------------------------------------------
# shared pass 2: weight gradients of B sub-batches (ZiCo, L-SWAG)


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


def activation_calls(net: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn,
                     ctx: ProxyContext) -> list[ActivationCall]:
    """Every call, in forward order, of nn.ReLU, nn.GELU or a non-project class whose name contains
    "ReLU", in one train-mode no-grad forward of the batch on the network's own initialisation."""
    if (LOSS_USERS | JACOBIAN_USERS | HVP_USERS) & ctx.planned or _memo_pass(ctx, "activations") is not None:
        # a backward pass is planned anyway: its forward (same network, batch and train mode) records them
        calls = backward_pass(net, inputs, targets, loss_fn, ctx, "activations").activations
        assert calls is not None
        return calls
    return ctx.shared(("activation_calls",), lambda: record_calls(scratch_net(net, ctx), inputs))
