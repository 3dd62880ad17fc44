"""TransNAS-Bench-101 networks (Duan et al., CVPR 2021) as NAS-Bench-Suite-Zero built them: the
benchmark's own encoder (micro cells or macro ResNet blocks) with its 7 task heads / decoders.

Architecture strings: micro `64-41414-a_bc_def` (cell op codes 0 zero, 1 skip, 2 conv1x1, 3 conv3x3,
grouped by target node: a = 0->1; b, c = 0->2, 1->2; d, e, f = 0->3, 1->3, 2->3); macro `64-<codes>-basic`
with 4..6 layer codes in 1..4 (even: double the channels, >2: stride 2), each layer = 2 basic blocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from swapbench.nn.blockwise import Block, batchnorm_link, links, relu_conv_link, sum_link
from swapbench.nn.checkpointing import BlockSequence, run_blocks
from swapbench.spaces.base import ReluConvBn

BASE_CHANNELS = 64
NOMINAL_INPUT = 224  # the original code sizes its decoders for 224x224 inputs (feature width 56 / 2^k)
OUTPUT_SIZE = 256
CELL_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # order of the cell string digits


class Zero(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.c_in == self.c_out:
            return x[:, :, :: self.stride, :: self.stride].mul(0.0)
        b, _, h, w = x.shape
        s = self.stride
        return x.new_zeros((b, self.c_out, (h + s - 1) // s, (w + s - 1) // s))


class FactorizedReduce(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride=stride, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=stride, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


def cell_op(code: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    if code == 0:
        return Zero(c_in, c_out, stride)
    if code == 1:
        return nn.Identity() if stride == 1 and c_in == c_out else FactorizedReduce(c_in, c_out, stride)
    return ReluConvBn(c_in, c_out, 1 if code == 2 else 3, stride)


class MicroCell(nn.Module):
    """4 nodes; edges leaving the input map c_in -> c_out with the block's stride, the rest c_out -> c_out."""

    def __init__(self, codes: tuple[int, ...], c_in: int, c_out: int, stride: int):
        super().__init__()
        self.edges = nn.ModuleList(
            cell_op(code, c_in, c_out, stride) if src == 0 else cell_op(code, c_out, c_out, 1)
            for code, (src, _) in zip(codes, CELL_EDGES, strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in (1, 2, 3):
            outs = [op(nodes[src]) for op, (src, dst) in zip(self.edges, CELL_EDGES, strict=True) if dst == target]
            nodes.append(sum(outs[1:], outs[0]))
        return nodes[3]


class BasicBlock(nn.Module):
    """ResNet basic block of the macro space. The shortcut BatchNorm has eps=1.0 and momentum=1.0: the
    original passes (affine, track_running_stats) positionally into those two slots; kept on purpose."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.main = nn.Sequential(ReluConvBn(c_in, c_out, 3, stride), ReluConvBn(c_out, c_out, 3))
        self.shortcut = (
            None if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                               nn.BatchNorm2d(c_out, eps=1.0, momentum=1.0))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x if self.shortcut is None else self.shortcut(x)) + self.main(x)

    def links(self) -> list[Block]:
        """The block as a chain (swapbench.nn.blockwise) of one conv or one BatchNorm a link, the block's input
        carried beside the main branch until the sum: at 256 channels and 64x64 a whole block's double
        backward holds 2.4 GiB at batch 32, one BatchNorm's 0.9 GiB (bench/block_floor.py), less in closed
        form. The sum is a link of its own, also in closed form. Links that pass the block's input (or the main
        branch's output) through say so (`reads`), so that the upward sweep parks it meanwhile."""
        (relu1, conv1, bn1), (relu2, conv2, bn2) = self.main
        main = [relu_conv_link(relu1, conv1, keep_input=True), batchnorm_link(bn1),
                relu_conv_link(relu2, conv2), batchnorm_link(bn2)]
        if self.shortcut is None:
            return [*main, sum_link()]
        conv, bn = self.shortcut
        return [*main, Block(lambda s: (conv(s[1]), s[0]), (conv,)), batchnorm_link(bn), sum_link()]


class Encoder(nn.Module):
    """Stem (1/4 resolution) + one 2-block layer per macro code. `cell` = micro cell codes or None (macro)."""

    def __init__(self, macro: tuple[int, ...], cell: tuple[int, ...] | None):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, BASE_CHANNELS // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(BASE_CHANNELS // 2),
            ReluConvBn(BASE_CHANNELS // 2, BASE_CHANNELS, 3, stride=2),
        )
        blocks: list[nn.Module] = []
        c = BASE_CHANNELS
        width = NOMINAL_INPUT // 4
        for code in macro:
            c_out = 2 * c if code % 2 == 0 else c
            stride = 2 if code > 2 else 1
            width = width // stride
            for c_a, c_b, s in ((c, c_out, stride), (c_out, c_out, 1)):
                blocks.append(BasicBlock(c_a, c_b, s) if cell is None else MicroCell(cell, c_a, c_b, s))
            c = c_out
        self.layers = nn.Sequential(*blocks)
        self.checkpoint_blocks = True  # see swapbench.nn.checkpointing: the stem and each block
        self.out_channels = c
        self.nominal_width = width
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_blocks([self.stem, *self.layers], x, self.checkpoint_blocks)


# ---------------------------------------------------------------------------------------------
# heads and decoders (PyTorch default init)


def conv_layer(c_in: int, c_out: int, bn: bool = True, act: nn.Module | None = None) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1)]
    if bn:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(act if act is not None else nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def deconv_layer(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(0.2),
    )


def upsamplings(nominal_width: int) -> int:
    """Number of x2 upsamplings the decoders use; maps the real feature width back to 256."""
    return int(math.log2(OUTPUT_SIZE / nominal_width))


class ClassifierHead(nn.Sequential):
    def __init__(self, c_in: int, n_out: int):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, n_out))


def generative_decoder(c_in: int, nu: int) -> BlockSequence:
    """Image decoder of autoencoder/normal: 14 layers, `nu` of them x2 transposed convs, tanh output."""

    def up_or_conv(a: int, b: int, up: bool) -> nn.Module:
        return deconv_layer(a, b) if up else conv_layer(a, b)

    return BlockSequence(
        conv_layer(c_in, 1024), conv_layer(1024, 1024),
        up_or_conv(1024, 512, nu == 6), conv_layer(512, 512),
        up_or_conv(512, 256, nu >= 5), conv_layer(256, 128),
        up_or_conv(128, 64, nu >= 4), conv_layer(64, 64),
        up_or_conv(64, 32, nu >= 3), conv_layer(32, 32),
        deconv_layer(32, 16), conv_layer(16, 32), deconv_layer(32, 16),
        conv_layer(16, 3, bn=False, act=nn.Tanh()),
    )


def segmentation_decoder(c_in: int, nu: int, n_classes: int) -> BlockSequence:
    layers: list[nn.Module] = [conv_layer(c_in, 1024)]
    c = 1024
    for _ in range(6 - nu):
        layers.append(conv_layer(c, c // 2))
        c //= 2
    for _ in range(nu - 1):
        layers.append(deconv_layer(c, c // 2))
        c //= 2
    layers += [deconv_layer(c, c), nn.Conv2d(c, n_classes, 3, padding=1)]
    return BlockSequence(*layers)


class Discriminator(nn.Module):
    """The pix2pix discriminator built inside the autoencoder/normal models. Never called in `forward`,
    so it adds nothing to the executed parameter/FLOP counts, but its convs are visible to metrics that
    iterate over the network's layers (as in NAS-Bench-Suite-Zero)."""

    def __init__(self) -> None:
        super().__init__()
        specs = ((6, 64, 5, 4, 2), (64, 128, 5, 4, 2), (128, 256, 5, 4, 2), (256, 256, 3, 1, 1),
                 (256, 512, 3, 1, 1), (512, 512, 3, 1, 1))
        layers: list[nn.Module] = []
        for c_in, c_out, k, s, p in specs:
            layers += [nn.utils.spectral_norm(nn.Conv2d(c_in, c_out, k, stride=s, padding=p)), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(512, 1, 3, padding=1))
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> Discriminator:
        # spectral_norm keeps each conv's `weight` as a plain tensor that only a forward recomputes, and this
        # module never runs forward: move it with the parameters, or .to("cuda") leaves it on the CPU
        super()._apply(fn, recurse)
        for m in self.layers:
            if hasattr(m, "weight_orig"):
                m.weight = fn(m.weight)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.layers(x)).flatten()


class TaskNetwork(nn.Module):
    """Encoder + task head. Jigsaw inputs are (B, 9, 3, 64, 64): the encoder runs on each tile and the
    9 feature maps are concatenated along channels before the head."""

    def __init__(self, macro: tuple[int, ...], cell: tuple[int, ...] | None, task: str, n_out: int | None):
        super().__init__()
        self.task = task
        self.encoder = Encoder(macro, cell)
        c, nu = self.encoder.out_channels, upsamplings(self.encoder.nominal_width)
        if task in ("class_object", "class_scene", "room_layout"):
            self.head = ClassifierHead(c, int(n_out or 0))
        elif task == "jigsaw":
            self.head = ClassifierHead(9 * c, int(n_out or 0))
        elif task in ("autoencoder", "normal"):
            self.head = generative_decoder(c, nu)
            self.discriminator = Discriminator()
        elif task == "segmentsemantic":
            self.head = segmentation_decoder(c, nu, int(n_out or 0))
        else:
            raise ValueError(f"unknown TransNAS-Bench-101 task {task!r}")

    def blocks(self) -> list[Block]:
        """The forward as a chain (swapbench.nn.blockwise): the encoder's stem and blocks, then the head's
        layers, split into links of one conv or one BatchNorm each (a micro cell stays whole: its largest
        tensor is a quarter of a macro block's). Jigsaw carries its 9 tiles through the encoder side by side,
        each encoder block, whole, running on one tile after the other, as `forward` runs them."""
        encoder = [self.encoder.stem, *self.encoder.layers]
        head = list(self.head) if isinstance(self.head, BlockSequence) else [self.head]
        if self.task != "jigsaw":
            return links(*encoder, *head)
        tiles = Block(lambda s: tuple(s[0][:, i] for i in range(s[0].shape[1])), ())
        each = [Block(lambda s, m=m: tuple(m(t) for t in s), (m,)) for m in encoder]
        joined = Block(lambda s: (self.head(torch.cat(list(s), dim=1)),), (self.head,))
        return [tiles, *each, joined]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.task == "jigsaw":
            return self.head(torch.cat([self.encoder(x[:, i]) for i in range(x.shape[1])], dim=1))
        return self.head(self.encoder(x))
