"""NAS-Bench-301 / DARTS (Siems et al. 2020; Liu et al., ICLR 2019): normal + reduction cell, 4 nodes each.

Encodings understood by `parse`:
- NASLib compact form (NAS-Bench-Suite-Zero keys): '[[(0, 0), (1, 5), ...8 pairs], [...8 pairs]]', pair =
  (input, op); pairs 2n and 2n+1 feed node n; input 0/1 = the two previous cells, 2.. = earlier nodes.
  Op index: 0 max_pool_3x3, 1 avg_pool_3x3, 2 skip_connect, 3 sep_conv_3x3, 4 sep_conv_5x5,
  5 dil_conv_3x3, 6 dil_conv_5x5.
- DARTS genotype strings: "Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
  reduce=[...], reduce_concat=[2, 3, 4, 5])" (parsed without eval).

The canonical key is the compact form. `build` gives the network NAS-Bench-Suite-Zero scored (NASLib's
DARTS evaluation net with C=32, 8 cells, no auxiliary head, cell ops with affine-less BatchNorms and a
BatchNorm after pooling). `CellStackNetwork` is the network family both this space and the DARTS spaces
build (spaces/darts.py adds the DARTS evaluation network and the official SWAP code's stem-less one).
"""

from __future__ import annotations

import ast
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from swapbench.errors import EncodingError
from swapbench.nn import pooling
from swapbench.spaces import register_space
from swapbench.spaces.base import SearchSpace, TaskInfo, literal

OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
       "dil_conv_5x5")
OP_INDEX = {name: i for i, name in enumerate(OPS)}
NODES = 4
CONCAT = (2, 3, 4, 5)

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
Pairs = tuple[tuple[int, int], ...]  # 8 (input, op) pairs
Arch = tuple[Pairs, Pairs]  # (normal, reduce)


def _check_cell(pairs: object, key: str, which: str, n_ops: int = len(OPS), label: str = "NB301") -> Pairs:
    if not isinstance(pairs, (list, tuple)) or len(pairs) != 2 * NODES:
        raise EncodingError(f"malformed {label} encoding {key!r}: the {which} cell needs {2 * NODES} (input, op) pairs")
    out = []
    for i, pair in enumerate(pairs):
        ok = isinstance(pair, (list, tuple)) and len(pair) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in pair)
        if not ok:
            raise EncodingError(f"malformed {label} encoding {key!r}: {which} pair {i} is not (input, op)")
        inp, op = pair
        if not 0 <= op < n_ops:
            raise EncodingError(
                f"malformed {label} encoding {key!r}: {which} pair {i} has op {op} (valid 0..{n_ops - 1})")
        if not 0 <= inp <= i // 2 + 1:
            raise EncodingError(
                f"malformed {label} encoding {key!r}: {which} pair {i} reads input {inp}; node {i // 2} may read "
                f"0..{i // 2 + 1}"
            )
        out.append((int(inp), int(op)))
    return tuple(out)


def _genotype_fields(text: str) -> dict[str, object]:
    """The four fields of a 'Genotype(...)' call, each read with literal_eval on its own AST node."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise EncodingError(f"malformed DARTS genotype {text!r}") from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise EncodingError(f"malformed DARTS genotype {text!r}: expected Genotype(normal=..., reduce=...)")
    if len(call.args) > 4:
        raise EncodingError(f"malformed DARTS genotype {text!r}: too many fields")
    fields: dict[str, object] = {}
    try:
        for name, node in zip(Genotype._fields, call.args, strict=False):
            fields[name] = ast.literal_eval(node)
        for kw in call.keywords:
            if kw.arg not in Genotype._fields or kw.arg in fields:
                raise EncodingError(f"malformed DARTS genotype {text!r}: unexpected field {kw.arg!r}")
            fields[kw.arg] = ast.literal_eval(kw.value)
    except ValueError:
        raise EncodingError(f"malformed DARTS genotype {text!r}: fields must be literals") from None
    return fields


def cells_from_genotype(text: str, ops: tuple[str, ...], label: str) -> Arch:
    """A DARTS Genotype(...) string as two cells of (input, op index) pairs over the op table `ops` of the
    space named `label`; both cells must concatenate nodes 2-5, as every space here builds them."""
    index = {name: i for i, name in enumerate(ops)}
    fields = _genotype_fields(text)
    cells = []
    for which in ("normal", "reduce"):
        if which not in fields:
            raise EncodingError(f"malformed DARTS genotype {text!r}: missing '{which}'")
        concat = fields.get(f"{which}_concat", CONCAT)
        if not isinstance(concat, (list, tuple, range)) or tuple(concat) != CONCAT:
            raise EncodingError(f"DARTS genotype {text!r}: {which}_concat must be [2, 3, 4, 5] in {label}")
        pairs = []
        for item in fields[which]:  # type: ignore[union-attr]
            if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
                raise EncodingError(f"malformed DARTS genotype {text!r}: bad edge {item!r}")
            if item[0] not in index:
                raise EncodingError(
                    f"DARTS genotype {text!r}: op {item[0]!r} is not in the {label} space ({', '.join(ops)})"
                )
            pairs.append((item[1], index[item[0]]))
        cells.append(_check_cell(pairs, text, which, len(ops), label))
    return cells[0], cells[1]


def from_genotype(text: str) -> Arch:
    return cells_from_genotype(text, OPS, "NB301")


def to_genotype(arch: Arch) -> Genotype:
    normal, reduce = ([(OPS[op], inp) for inp, op in cell] for cell in arch)
    return Genotype(normal, list(CONCAT), reduce, list(CONCAT))


def to_compact_str(arch: Arch) -> str:
    return str([list(arch[0]), list(arch[1])])


# ---------------------------------------------------------------------------------------------
# search operators on the compact form (shared with the `darts` space, which has one op more)


def random_cells(rng: np.random.Generator, n_ops: int) -> Arch:
    """Per node: two distinct inputs among its predecessors and an op each (DARTS / NB301 sampling)."""
    cells = []
    for _ in range(2):
        pairs = []
        for n in range(NODES):
            inputs = sorted(rng.choice(n + 2, size=2, replace=False).tolist())
            pairs += [(int(i), int(rng.integers(n_ops))) for i in inputs]
        cells.append(tuple(pairs))
    return cells[0], cells[1]


def mutate_cells(arch: Arch, rng: np.random.Generator, n_ops: int) -> Arch:
    """In one random cell, either one edge gets another op, or (equal chance) one edge reads another
    predecessor that its node does not already read (the node keeps two distinct inputs)."""
    cells = [list(arch[0]), list(arch[1])]
    pairs = cells[int(rng.integers(2))]
    edge = int(rng.integers(len(pairs)))
    inp, op = pairs[edge]
    node, other = edge // 2, pairs[edge ^ 1][0]
    free = [i for i in range(node + 2) if i not in (inp, other)]
    if free and rng.random() < 0.5:
        pairs[edge] = (int(rng.choice(free)), op)
    else:
        pairs[edge] = (inp, int(rng.choice([o for o in range(n_ops) if o != op])))
    return tuple(cells[0]), tuple(cells[1])


def crossover_cells(a: Arch, b: Arch, rng: np.random.Generator) -> tuple[Arch, Arch]:
    """Swap the two incoming edges of one node of one cell between the parents."""
    which, node = int(rng.integers(2)), int(rng.integers(NODES))
    first, second = [list(a[0]), list(a[1])], [list(b[0]), list(b[1])]
    for edge in (2 * node, 2 * node + 1):
        first[which][edge], second[which][edge] = b[which][edge], a[which][edge]
    return (tuple(first[0]), tuple(first[1])), (tuple(second[0]), tuple(second[1]))


# ---------------------------------------------------------------------------------------------
# network building blocks


class ReluConvBn(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1x1 stride-2 convs on offset grids, concatenated."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class SepConv(nn.Sequential):
    def __init__(self, c: int, kernel: int, stride: int, affine: bool):
        pad = (kernel - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, kernel, stride=stride, padding=pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, kernel, stride=1, padding=pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c, affine=affine),
        )


class DilConv(nn.Sequential):
    def __init__(self, c: int, kernel: int, stride: int, affine: bool):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, kernel, stride=stride, padding=kernel - 1, dilation=2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c, affine=affine),
        )


class Zero(nn.Module):
    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def make_op(name: str, c: int, stride: int, affine: bool, pool_bn: bool) -> nn.Module:
    """A DARTS op at C channels. NASLib's NB301 ops: affine=False, pool_bn=True; DARTS/SWAP: True, False."""
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = (pooling.MaxPool2d(3, stride=stride, padding=1) if name == "max_pool_3x3"
                else pooling.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False))
        return nn.Sequential(pool, nn.BatchNorm2d(c, affine=affine)) if pool_bn else pool
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine=affine)
    if name == "none":
        return Zero(stride)
    kernel = int(name[-1])
    if name.startswith("sep_conv"):
        return SepConv(c, kernel, stride, affine)
    if name.startswith("dil_conv"):
        return DilConv(c, kernel, stride, affine)
    raise EncodingError(f"unknown DARTS op {name!r}")


class Cell(nn.Module):
    """DARTS cell from (op name, input) edges; output = concat of the 4 intermediate nodes."""

    def __init__(self, edges: list[tuple[str, int]], c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool, affine: bool, pool_bn: bool):
        super().__init__()
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReluConvBn(c_pp, c, 1)
        self.pre1 = ReluConvBn(c_p, c, 1)
        self.inputs = [inp for _, inp in edges]
        self.ops = nn.ModuleList(
            make_op(name, c, 2 if reduction and inp < 2 else 1, affine, pool_bn) for name, inp in edges
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for n in range(NODES):
            a, b = 2 * n, 2 * n + 1
            states.append(self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]]))
        return torch.cat(states[2:], dim=1)


def build_cells(genotype: Genotype, c_in: int, c: int, layers: int, affine: bool,
                pool_bn: bool) -> tuple[nn.ModuleList, int]:
    """DARTS' cell stack: cells at layers//3 and 2*layers//3 reduce and double C; returns the cells and
    the channel count of the last cell's output."""
    cells = nn.ModuleList()
    c_pp, c_p, c_cur = c_in, c_in, c
    reduction_prev = False
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c_cur *= 2
        edges = list(genotype.reduce if reduction else genotype.normal)
        cells.append(Cell(edges, c_pp, c_p, c_cur, reduction, reduction_prev, affine=affine, pool_bn=pool_bn))
        reduction_prev = reduction
        c_pp, c_p = c_p, NODES * c_cur
    return cells, c_p


class CellStackNetwork(nn.Module):
    """A DARTS-style network from a genotype: [stem ->] cell stack -> global average pool -> classifier.

    `stem_multiplier=0` drops the stem, so the image feeds the first cell (C must then equal the image's
    channels), as in the official SWAP code's network. `features=True` makes `forward` return the pooled
    features; the classifier still runs, as in that code, so it counts among the executed parameters (Θ).
    `auxiliary(channels)`, when given, builds a head that is kept but never run (DARTS' auxiliary classifier);
    it is built between the cells and the classifier, the order (and so the initialisation) of DARTS' code.
    """

    def __init__(self, genotype: Genotype, num_classes: int, c: int, layers: int, *, stem_multiplier: int,
                 affine: bool, pool_bn: bool, features: bool = False,
                 auxiliary: Callable[[], nn.Module] | None = None):
        super().__init__()
        self.return_features = features
        c_in = c
        if stem_multiplier:
            c_in = stem_multiplier * c
            self.stem = nn.Sequential(nn.Conv2d(3, c_in, 3, padding=1, bias=False), nn.BatchNorm2d(c_in))
        self.cells, c_out = build_cells(genotype, c_in, c, layers, affine=affine, pool_bn=pool_bn)
        if auxiliary is not None:
            self.auxiliary_head = auxiliary()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = getattr(self, "stem", None)  # absent, not None, on stem-less nets: their module tree has no stem
        s0 = s1 = x if stem is None else stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        pooled = torch.flatten(self.pool(s1), 1)
        logits = self.classifier(pooled)
        return pooled if self.return_features else logits


class NB301Network(CellStackNetwork):
    """NASLib's NB301 graph as NAS-Bench-Suite-Zero built it: C=32, 8 cells (N N R N N R N N), no aux head,
    cell ops with affine-less BatchNorms and a BatchNorm after pooling."""

    def __init__(self, arch: Arch, num_classes: int = 10, c: int = 32, layers: int = 8, stem_multiplier: int = 3):
        super().__init__(to_genotype(arch), num_classes, c, layers, stem_multiplier=stem_multiplier, affine=False,
                         pool_bn=True)


# ---------------------------------------------------------------------------------------------


class DartsCells:
    """Sampling, mutation, crossover and description of DARTS-style cells (each node: two distinct
    predecessors, an op each), for the spaces whose cells differ only in their op table."""

    n_ops: ClassVar[int]
    genotype: ClassVar[Callable[[Arch], Genotype]]
    from_genotype: ClassVar[Callable[[str], Arch]]
    label: ClassVar[str]  # the space's name in error messages

    def parse(self, key: str, data_dir: Path | None = None) -> Arch:
        """[[8 (input, op) pairs], [8 pairs]] (NB-SZ's compact form) or a DARTS Genotype(...) string."""
        text = str(key).strip()
        if text.startswith("Genotype"):
            return type(self).from_genotype(text)
        value = literal(text, self.label)
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise EncodingError(
                f"malformed {self.label} encoding {key!r}: expected [[8 (input, op) pairs], [8 pairs]] "
                f"(ops 0..{self.n_ops - 1}) or a DARTS Genotype(...) string"
            )
        return (_check_cell(value[0], text, "normal", self.n_ops, self.label),
                _check_cell(value[1], text, "reduce", self.n_ops, self.label))

    def random_arch(self, rng: np.random.Generator) -> Arch:
        """Per node: two distinct inputs among its predecessors and an op each (DARTS / NB301 sampling)."""
        return random_cells(rng, self.n_ops)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        return mutate_cells(arch, rng, self.n_ops)

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> tuple[Arch, Arch]:
        return crossover_cells(a, b, rng)

    def describe(self, arch: Arch) -> dict[str, str]:
        return {"key": self.canonical_key(arch), "genotype": str(type(self).genotype(arch))}


class NB301Space(DartsCells, SearchSpace):
    n_ops = len(OPS)
    genotype = staticmethod(to_genotype)
    from_genotype = staticmethod(from_genotype)
    label = "NB301"

    def canonical_key(self, arch: Arch) -> str:
        return to_compact_str(arch)

    def build(self, arch: Arch, task: str) -> nn.Module:
        info = self.task(task)
        return NB301Network(arch, num_classes=info.num_classes or 10).train()



SPACE = register_space(
    NB301Space(
        name="nb301",
        description="NAS-Bench-301 / DARTS cell space, CIFAR-10 (NAS-Bench-Suite-Zero network: C=32, 8 cells)",
        tasks={"cifar10": TaskInfo("cifar10", "cifar10", (3, 32, 32), num_classes=10)},
        nbsz_file="zc_nasbench301.json",
    )
)
