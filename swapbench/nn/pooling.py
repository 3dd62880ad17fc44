"""Pooling layers that compute the same values as torch's, through the faster CPU kernel.

On CPU, torch's channels-last pooling kernels run the forward of the small windows NAS cells use 2-5x
faster than the NCHW ones (`bench/pool_layout.py`), and they visit each window in the same order, so the
outputs are bit-identical (`tests/test_pooling.py`). Without autograd every pool takes that route. Under
autograd the layout-conversion nodes it would add change the order in which a network's branch gradients are
summed (which moves gradient metrics at float-rounding level), so a pool takes it only as one autograd node of
its own: the stride-1, same-size pools of the cells. An average pool's backward (`_SamePool`) is itself such a
pool and runs through the fast kernel too, adding in the order torch's backward adds (bit for bit, to any order
of derivative); a max pool (`_SameMaxPool`) takes its values and argmax indices from the fast kernel and
leaves the backward to torch's indexed one. Both are checked for float32 and float64, the dtypes they take.
Every other pool under autograd (the strided ones, where the fast kernel gains little), and every pool on other
devices, is torch's. The classes subclass torch's, so anything that inspects pooling modules
still sees one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def channels_last_route(x: torch.Tensor) -> bool:
    """True when a CPU batch of images is pooled without a gradient being recorded."""
    return x.device.type == "cpu" and x.dim() == 4 and not (torch.is_grad_enabled() and x.requires_grad)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


class _ChannelsLastWithoutGrad:
    """The forward both pooling classes share; `super()` is the torch pooling class listed after it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if channels_last_route(x):
            return super().forward(_channels_last(x)).contiguous()
        return super().forward(x)


def _window_sum(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Each position's sum over the kernel x kernel window centred on it (zeros outside), NCHW out."""
    return F.avg_pool2d(_channels_last(x), kernel, 1, kernel // 2, count_include_pad=True,
                        divisor_override=1).contiguous()


_COUNTS: dict[tuple, torch.Tensor] = {}


def _divisor(x: torch.Tensor, kernel: int, include_pad: bool) -> torch.Tensor | int:
    """What each output is divided by: kernel^2, or the number of its window's positions inside the image."""
    if include_pad:
        return kernel * kernel
    key = (kernel, x.shape[-2], x.shape[-1], x.dtype, x.device)
    if key not in _COUNTS:
        _COUNTS[key] = _window_sum(torch.ones(1, 1, *x.shape[-2:], dtype=x.dtype, device=x.device), kernel)
    return _COUNTS[key]


def _single(value: int | tuple[int, ...]) -> int | None:
    if isinstance(value, int):
        return value
    return value[0] if len(set(value)) == 1 else None


def _autograd_route(pool: nn.AvgPool2d | nn.MaxPool2d, x: torch.Tensor) -> int | None:
    """The kernel size when `pool` on `x` takes its own autograd node (a stride-1 same-size pool on a CPU
    float32/float64 batch of images, with autograd recording), else None."""
    kernel, stride, padding = _single(pool.kernel_size), _single(pool.stride), _single(pool.padding)
    plain = not pool.ceil_mode and getattr(pool, "divisor_override", None) is None and _single(
        getattr(pool, "dilation", 1)) == 1
    if (plain and stride == 1 and kernel is not None and kernel % 2 == 1 and padding == kernel // 2
            and x.device.type == "cpu" and x.dim() == 4 and x.dtype in (torch.float32, torch.float64)
            and torch.is_grad_enabled() and x.requires_grad):
        return kernel
    return None


class _SamePool(torch.autograd.Function):
    """A stride-1 average pool with padding kernel // 2: y = A x, with A = D^-1 S (S the window sum, which is
    symmetric at stride 1, D the divisor). Its backward A^T g = S (D^-1 g) is `_SamePoolT`: the quotient
    g / D that torch's backward forms per output, summed over each input's window in the raster order in which
    torch's backward adds those quotients (both bit-identical to torch's, tests/test_pooling.py)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, kernel: int, include_pad: bool) -> torch.Tensor:
        ctx.kernel, ctx.include_pad = kernel, include_pad
        return F.avg_pool2d(_channels_last(x), kernel, 1, kernel // 2, count_include_pad=include_pad).contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return _SamePoolT.apply(grad, ctx.kernel, ctx.include_pad), None, None


class _SamePoolT(torch.autograd.Function):
    """A^T of `_SamePool`; its own backward is A again, so second-order gradients (GraSP) take the fast route too."""

    @staticmethod
    def forward(ctx, grad: torch.Tensor, kernel: int, include_pad: bool) -> torch.Tensor:
        ctx.kernel, ctx.include_pad = kernel, include_pad
        return _window_sum(grad / _divisor(grad, kernel, include_pad), kernel)

    @staticmethod
    def backward(ctx, v: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        return _SamePool.apply(v, ctx.kernel, ctx.include_pad), None, None


class AvgPool2d(_ChannelsLastWithoutGrad, nn.AvgPool2d):
    """nn.AvgPool2d with the CPU channels-last kernel: always for the stride-1 same-size pools, else when no
    gradient is recorded."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = _autograd_route(self, x)
        if kernel is not None:
            return _SamePool.apply(x, kernel, self.count_include_pad)
        return super().forward(x)


class _SameMaxPool(torch.autograd.Function):
    """A stride-1 max pool with padding kernel // 2 whose forward (values and argmax indices) runs through the
    channels-last kernel; the backward is torch's own indexed backward on those indices, so it and its
    derivative are torch's operations on torch's inputs (the indices are the NCHW kernel's, ties included:
    tests/test_pooling.py)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, kernel: int) -> torch.Tensor:
        out, indices = F.max_pool2d(_channels_last(x), kernel, 1, kernel // 2, return_indices=True)
        out, indices = out.contiguous(), indices.contiguous()
        ctx.save_for_backward(x, indices)
        ctx.kernel = kernel
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        x, indices = ctx.saved_tensors
        k, p = ctx.kernel, ctx.kernel // 2
        return torch.ops.aten.max_pool2d_with_indices_backward(
            grad.contiguous(), x, [k, k], [1, 1], [p, p], [1, 1], False, indices), None


class MaxPool2d(_ChannelsLastWithoutGrad, nn.MaxPool2d):
    """nn.MaxPool2d with the CPU channels-last kernel: always for the stride-1 same-size pools, else when no
    gradient is recorded."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = _autograd_route(self, x)
        if kernel is not None and not self.return_indices:
            return _SameMaxPool.apply(x, kernel)
        return super().forward(x)
