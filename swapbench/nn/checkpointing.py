"""Activation checkpointing of a network's blocks: under autograd, a block keeps only its input and runs its
forward again when the backward needs what it computed, so a forward + backward holds one block's
intermediate tensors at a time instead of the whole network's.

The numbers do not change: the recomputation is the same forward on the same input (same kernels, the RNG
state restored), and the backward walks the graph of the first forward. Two things differ from a plain pass:
the time (one more forward of each block per backward graph) and BatchNorm running statistics, which a
train-mode recomputation moves a second time (no metric reads them after a gradient pass; zen, which does,
runs without autograd, where blocks are never checkpointed). On a network that also exposes its chain of
blocks (swapbench.nn.blockwise), grasp's Hessian-gradient product then goes one block at a time too: equal to
the one-go product to float rounding.

On a CPU the kept block inputs wait in a temporary file, each written once per forward and read once per
backward (bit for bit); on a GPU, torch's checkpoint keeps them in device memory.

Networks opt in by running their block sequence through `run_blocks` and carrying a boolean attribute
``checkpoint_blocks`` (see `set_checkpointing`).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from swapbench.nn.blockwise import Shelf, spills, vjp

ATTRIBUTE = "checkpoint_blocks"


def run_blocks(blocks: Iterable[nn.Module], x: torch.Tensor, enabled: bool) -> torch.Tensor:
    """x through `blocks` in order; each block checkpointed when `enabled` and autograd is recording. On a
    CPU the kept block inputs wait in a temporary file (`Shelf`): on a TransNAS-Bench-101 macro network they
    are 0.8-1 GiB at batch 32, as much as one block's recomputed forward and backward."""
    if not (enabled and torch.is_grad_enabled()):
        for block in blocks:
            x = block(x)
        return x
    if not spills(x):
        for block in blocks:
            x = checkpoint(block, x, use_reentrant=False)
        return x
    shelf = Shelf(spill=True)  # closed with the graph that holds it
    for k, block in enumerate(blocks):
        params = [p for p in block.parameters() if p.requires_grad]
        x = _Recomputed.apply(block, shelf, k, x, *params)
    return x


class _Recomputed(torch.autograd.Function):
    """A block that keeps only its input, on a `Shelf`, and runs again in each backward that reaches it: the
    same forward on the same input, then its backward for the input and the weights asked for."""

    @staticmethod
    def forward(ctx, block: nn.Module, shelf: Shelf, k: int, x: torch.Tensor,  # type: ignore[override]
                *params: torch.Tensor) -> torch.Tensor:
        shelf.put(k, [x])
        ctx.block, ctx.shelf, ctx.k, ctx.params, ctx.rng = block, shelf, k, params, torch.get_rng_state()
        return block(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        if torch.is_grad_enabled():
            raise RuntimeError("a block checkpointed through a file cannot be differentiated twice; "
                               "turn checkpointing off or take the product block by block (swapbench.nn.blockwise)")
        (x,) = ctx.shelf.look(ctx.k)
        assert x is not None
        wants_x = ctx.needs_input_grad[3]
        wanted = [p for p, want in zip(ctx.params, ctx.needs_input_grad[4:], strict=True) if want]
        with torch.enable_grad(), torch.random.fork_rng(devices=[]):
            torch.set_rng_state(ctx.rng)  # a block that draws random numbers draws the same ones again
            x = x.detach().requires_grad_(wants_x)
            out = ctx.block(x)
        found = iter(vjp([out], ([x] if wants_x else []) + wanted, [grad]))
        grads: list[torch.Tensor | None] = [None, None, None, next(found) if wants_x else None]
        grads += [next(found) if want else None for want in ctx.needs_input_grad[4:]]
        return tuple(grads)


def set_checkpointing(net: nn.Module, enabled: bool) -> int:
    """Turn block checkpointing on or off in every submodule of `net` that supports it; returns how many."""
    found = 0
    for m in net.modules():
        if hasattr(m, ATTRIBUTE):
            setattr(m, ATTRIBUTE, bool(enabled))
            found += 1
    return found


def checkpointing(net: nn.Module) -> bool:
    """Whether any submodule of `net` checkpoints its blocks."""
    return any(getattr(m, ATTRIBUTE, False) for m in net.modules())


class BlockSequence(nn.Sequential):
    """An nn.Sequential whose children are checkpointed blocks (the same modules, state-dict keys and order)."""

    def __init__(self, *blocks: nn.Module, checkpoint_blocks: bool = True):
        super().__init__(*blocks)
        self.checkpoint_blocks = checkpoint_blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_blocks(self, x, self.checkpoint_blocks)
