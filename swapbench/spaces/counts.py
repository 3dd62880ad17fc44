"""Parameter / FLOP counts of a space's network by the tensorwatch rule NAS-Bench-Suite-Zero used for its
stored `params` and `flops` (executed leaf modules of one batch-1 eval forward; see
swapbench.proxies._counting). In millions, like the stored values.

A network built under ``torch.device("meta")`` is counted without any arithmetic (shapes only), which makes
sweeps over whole tables of 256x256 networks cheap.
"""

from __future__ import annotations

from torch import nn

from swapbench.proxies._counting import count_model


def executed_counts(net: nn.Module, input_shape: tuple[int, ...]) -> tuple[float, float]:
    """(params, flops) in millions for a batch-1 input of `input_shape`, on the network's device."""
    counts = count_model(net, tuple(input_shape))
    return counts.params / 1e6, counts.flops / 1e6


def executed_params(net: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Parameters (millions) of the leaf modules executed in a batch-1 eval forward."""
    return executed_counts(net, input_shape)[0]
