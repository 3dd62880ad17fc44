"""Parameter and FLOP counts by the rule of tensorwatch 0.9.1's torchstat analyser, which produced
NAS-Bench-Suite-Zero's stored ``params`` and ``flops`` (docs: spaces.md 5.4, proxies.md 2.8-2.9).

The rule:
- one forward, in eval mode, of a batch-1 input drawn from U[0, 1) (``torch.rand``);
- only leaf modules (no children) that were actually called count; a module never called (an auxiliary
  head that runs only in training, an unused discriminator) adds nothing;
- params: the numel of each executed leaf's own ``_parameters`` (biases and BatchNorm affine included);
- flops: per executed leaf, from its first input and first output tensor of its LAST call (a module
  called several times keeps only its last call):
    Conv2d        k_h*k_w*C_in*(C_out//groups)*N*H_out*W_out (+ C_out*N*H_out*W_out with a bias),
                  C_in read from the input tensor
    BatchNorm2d   numel(input), x2 if affine
    ReLU, ReLU6, PReLU, ELU, LeakyReLU   numel(input)
    AvgPool2d, MaxPool2d   N*C*W'*H'*k_h*k_w with W' = floor((W + 2p[0] - k[0]) / s[0] + 1) and
                  H' = floor((H + 2p[1] - k[1]) / s[0] + 1) (torchstat's index use, kept as is)
    AdaptiveAvgPool2d, AdaptiveMaxPool2d   sum over output cells of N*C*(y_end-y_start+1)*(x_end-x_start+1)
                  with floor/ceil window bounds (C*(H+1)*(W+1) for a 1x1 output)
    Upsample      N*H_out*W_out (torchstat drops the channel count)
    Linear        rows*in*out (rows = N for a 2-D input)
    anything else 0 (ConvTranspose2d, Tanh, Identity, Flatten, parameter-free custom ops)
Both are reported by the metrics in millions (/1e6), as the tables store them.

A network built under ``torch.device("meta")`` is counted without any arithmetic (shapes only), which makes
sweeps over whole tables of 256x256 networks cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelCounts:
    params: int
    flops: int


def _tensors(value: object) -> list[torch.Tensor]:
    """Flatten nested tuples/lists to their tensors, in order (torchstat's `_to_seq`)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        out: list[torch.Tensor] = []
        for item in value:
            out += _tensors(item)
        return out
    return []


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def leaf_flops(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    """torchstat's FLOP count of one call of a leaf module (see the module docstring)."""
    if isinstance(module, nn.Conv2d):
        n, c_in = inp.shape[0], inp.shape[1]
        k_h, k_w = module.kernel_size
        c_out, h, w = out.shape[1:]
        per_position = k_h * k_w * c_in * (c_out // module.groups)
        active = n * h * w
        return per_position * active + (c_out * active if module.bias is not None else 0)
    if isinstance(module, nn.BatchNorm2d):
        return inp.numel() * (2 if module.affine else 1)
    if isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
        n, c, h, w = inp.shape
        k, s, p = _pair(module.kernel_size), _pair(module.stride), _pair(module.padding)
        w_out = math.floor((w + 2 * p[0] - k[0]) / float(s[0]) + 1)
        h_out = math.floor((h + 2 * p[1] - k[1]) / float(s[0]) + 1)
        return n * c * w_out * h_out * k[0] * k[1]
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        n, c, h, w = inp.shape
        oh, ow = out.shape[2], out.shape[3]
        total = 0
        for i in range(oh):
            y0, y1 = math.floor(i * h / oh), math.ceil((i + 1) * h / oh)
            for j in range(ow):
                x0, x1 = math.floor(j * w / ow), math.ceil((j + 1) * w / ow)
                total += n * c * (y1 - y0 + 1) * (x1 - x0 + 1)
        return total
    if isinstance(module, (nn.ReLU, nn.ReLU6, nn.PReLU, nn.ELU, nn.LeakyReLU)):
        return inp.numel()
    if isinstance(module, nn.Upsample):
        return out.shape[0] * math.prod(out.shape[2:])
    if isinstance(module, nn.Linear):
        rows = inp.numel() // inp.shape[-1]
        return rows * inp.shape[-1] * out.shape[-1]
    return 0


def count_model(net: nn.Module, sample_shape: Sequence[int], generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> ModelCounts:
    """Raw (params, flops) of `net` for one input of shape [1, *sample_shape].

    The network is put in eval mode for the forward and every module's train/eval flag is restored
    afterwards; nothing else about it changes.
    """
    if device is None:
        tensors = [*net.parameters(), *net.buffers()]
        device = tensors[0].device if tensors else torch.device("cpu")
    leaves = [m for m in net.modules() if next(iter(m.children()), None) is None]
    last_flops: dict[int, int] = {}
    executed: dict[int, nn.Module] = {}

    def hook(module: nn.Module, args: tuple, output: object) -> None:
        ins, outs = _tensors(args), _tensors(output)
        executed[id(module)] = module
        last_flops[id(module)] = int(leaf_flops(module, ins[0], outs[0])) if ins and outs else 0

    modes = {m: m.training for m in net.modules()}
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        net.eval()
        x = torch.rand((1, *sample_shape), generator=generator).to(device)
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    params = sum(p.numel() for m in executed.values() for p in m._parameters.values() if p is not None)
    return ModelCounts(params=int(params), flops=int(sum(last_flops.values())))


def executed_counts(net: nn.Module, input_shape: tuple[int, ...]) -> tuple[float, float]:
    """(params, flops) in millions for a batch-1 input of `input_shape`, on the network's device."""
    counts = count_model(net, tuple(input_shape))
    return counts.params / 1e6, counts.flops / 1e6


def executed_params(net: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Parameters (millions) of the leaf modules executed in a batch-1 eval forward."""
    return executed_counts(net, input_shape)[0]
