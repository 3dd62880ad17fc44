"""The original DARTS search space (Liu et al., ICLR 2019): NB301's cells plus the eighth operation, `none`.

Encodings understood by `parse`:
- DARTS genotype strings "Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...],
  reduce_concat=[2, 3, 4, 5])" (parsed without eval; `none` allowed).
- NASLib's compact form '[[(input, op) x 8], [(input, op) x 8]]' with NASLib's op indices 0..6 (so every
  NB301 / NAS-Bench-Suite-Zero key decodes to the same architecture, and NB301's tables are truth here) and
  7 for `none`, an extension of NASLib's form (NASLib's DARTS space has no `none`).

The canonical key is that compact form. Networks (each registered as its own space, so cache keys differ):
- `darts`: the DARTS CIFAR-10 evaluation network (stem 3C, C=36, 20 cells, reductions at 1/3 and 2/3, affine
  BatchNorms, no BatchNorm after pooling). The auxiliary head is built only on request (`auxiliary=True`) and
  never run by `forward`, so it is outside Θ, as DARTS counts its 3.3 M parameters.
- `darts-swap`: the network the official SWAP code scores DARTS genotypes with (pym1024/SWAP
  `src/search_space/networks.py`, `Network(C=3, num_classes=10, layers=1)`): no stem, one cell (a reduction
  cell, since layers // 3 == 0), global pooling; the classifier runs but `forward` returns the pooled
  features, as the original does. Θ is counted in thousands of parameters there (the official
  `count_parameters` divides by 1e3), the unit of the paper's Fig. 5 (0.5 to 2.5 "KB").

`DartsSpace.variant(channels=..., layers=...)` gives other sizes under their own names, e.g. `darts[C=16,L=8]`
(`get_space` accepts that name directly).
"""

from __future__ import annotations

import re
from dataclasses import replace

from torch import nn

from swapbench.errors import SwapbenchError
from swapbench.spaces import register_space
from swapbench.spaces.base import SearchSpace, TaskInfo
from swapbench.spaces.nb301 import (
    CONCAT,
    NODES,
    CellStackNetwork,
    DartsCells,
    Genotype,
    cells_from_genotype,
)
from swapbench.spaces.nb301 import OPS as NB301_OPS

OPS = (*NB301_OPS, "none")  # NASLib's order, then `none` as 7
OP_INDEX = {name: i for i, name in enumerate(OPS)}
NONE = OP_INDEX["none"]
# DARTS' own PRIMITIVES order, for reference: none, max_pool, avg_pool, skip, sep3, sep5, dil3, dil5

Pairs = tuple[tuple[int, int], ...]
Arch = tuple[Pairs, Pairs]


def from_genotype(text: str) -> Arch:
    return cells_from_genotype(text, OPS, "DARTS")


def to_genotype(arch: Arch) -> Genotype:
    normal, reduce = ([(OPS[op], inp) for inp, op in cell] for cell in arch)
    return Genotype(normal, list(CONCAT), reduce, list(CONCAT))


# ---------------------------------------------------------------------------------------------
# networks


class AuxiliaryHead(nn.Module):
    """DARTS' CIFAR auxiliary classifier (8x8 input). Built for completeness, never run by `forward`."""

    def __init__(self, c: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)


class DartsNetwork(CellStackNetwork):
    """DARTS' NetworkCIFAR without drop-path (no training here): stem, `layers` cells, pool, classifier."""

    def __init__(self, genotype: Genotype, num_classes: int = 10, c: int = 36, layers: int = 20,
                 stem_multiplier: int = 3, auxiliary: bool = False):
        aux_channels = 4 * c * (4 if layers >= 3 else 1)  # output of the cell at 2 * layers // 3 (two reductions)
        super().__init__(genotype, num_classes, c, layers, stem_multiplier=stem_multiplier, affine=True,
                         pool_bn=False,
                         auxiliary=(lambda: AuxiliaryHead(aux_channels, num_classes)) if auxiliary else None)


class SwapCellNetwork(CellStackNetwork):
    """The official SWAP scoring network (pym1024/SWAP `Network(C, num_classes, layers, genotype)`): no stem,
    the image feeds the cells directly (C must be the image's channels, 3); `forward` returns the pooled
    features, what the original returns, unless `logits=True`; the classifier runs either way."""

    def __init__(self, genotype: Genotype, num_classes: int = 10, c: int = 3, layers: int = 1,
                 logits: bool = False):
        super().__init__(genotype, num_classes, c, layers, stem_multiplier=0, affine=True, pool_bn=False,
                         features=not logits)


# ---------------------------------------------------------------------------------------------


class DartsSpace(DartsCells, SearchSpace):
    n_ops = len(OPS)  # the NB301 ops and `none`
    genotype = staticmethod(to_genotype)
    from_genotype = staticmethod(from_genotype)
    label = "DARTS"
    network: str = "eval"  # eval (DARTS CIFAR evaluation network) or swap (official SWAP one-cell network)
    channels: int = 36
    layers: int = 20
    auxiliary: bool = False

    def canonical_key(self, arch: Arch) -> str:
        return str([list(arch[0]), list(arch[1])])

    def build(self, arch: Arch, task: str) -> nn.Module:
        info = self.task(task)
        genotype = to_genotype(arch)
        if self.network == "swap":
            return SwapCellNetwork(genotype, info.num_classes or 10, c=self.channels, layers=self.layers).train()
        return DartsNetwork(genotype, info.num_classes or 10, c=self.channels, layers=self.layers,
                            auxiliary=self.auxiliary).train()

    def variant(self, channels: int | None = None, layers: int | None = None) -> DartsSpace:
        """The same space on a network of another size, under its own name (its own cache keys)."""
        channels = self.channels if channels is None else int(channels)
        layers = self.layers if layers is None else int(layers)
        if channels < 1 or layers < 1:
            raise SwapbenchError("DARTS network size: channels and layers must be >= 1")
        if self.network == "swap" and channels != 3:
            raise SwapbenchError("the SWAP one-cell network has no stem, so its channels must be 3 (the image's)")
        base = self.name.split("[")[0]
        name = base if (channels, layers) == (type(self).channels, type(self).layers) and base == "darts" else \
            f"{base}[C={channels},L={layers}]"
        space = replace(self, name=name)
        space.network, space.channels, space.layers = self.network, channels, layers
        return space

    def with_options(self, name: str) -> DartsSpace:
        """`darts[C=16,L=8]` -> the darts space on a C=16, 8-cell network."""
        match = _VARIANT.match(name)
        if not match:
            raise SwapbenchError(f"space '{name}' takes no network options")
        opts: dict[str, int] = {}
        for item in filter(None, (p.strip() for p in match["opts"].split(","))):
            key, eq, value = item.partition("=")
            if not eq or key.strip() not in ("C", "L") or not value.strip().isdigit():
                raise SwapbenchError(f"bad network option {item!r} in '{name}'; use e.g. darts[C=16,L=8]")
            opts[key.strip()] = int(value)
        return self.variant(channels=opts.get("C"), layers=opts.get("L"))


_VARIANT = re.compile(r"^(?P<base>[\w-]+)\[(?P<opts>[^\]]*)\]$")


_TASKS = {"cifar10": TaskInfo("cifar10", "cifar10", (3, 32, 32), num_classes=10)}

SPACE = register_space(
    DartsSpace(
        name="darts",
        description="original DARTS space (8 ops incl. none), DARTS CIFAR-10 evaluation network (C=36, 20 cells)",
        tasks=dict(_TASKS),
        nbsz_file="zc_nasbench301.json",  # NB301's genotypes are DARTS genotypes
    )
)

_swap = DartsSpace(
    name="darts-swap",
    description="original DARTS space (8 ops incl. none) on the official SWAP one-cell network (C=3, no stem); "
                "sizes in thousands of parameters",
    tasks={"cifar10": TaskInfo("cifar10", "cifar10", (3, 32, 32), num_classes=10, default_batch_size=16)},
    nbsz_file="zc_nasbench301.json",
    size_unit=1e3,
)
_swap.network, _swap.channels, _swap.layers = "swap", 3, 1
SWAP_SPACE = register_space(_swap)

__all__ = ["OPS", "NONE", "DartsSpace", "DartsNetwork", "SwapCellNetwork", "from_genotype", "to_genotype",
           "NODES"]
