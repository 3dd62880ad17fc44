"""NAS-Bench-201 (Dong & Yang, ICLR 2020): a 4-node cell, 5 ops per edge, 15625 architectures.

Encodings understood by `parse`:
- NASLib op indices over edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4): '(0, 2, 3, 2, 3, 1)'
- NB201 arch strings: '|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|...|'
- NB201 indices '0'..'15624' (needs the data dir's index table)

The canonical form is the NASLib tuple. The network is NASLib's NasBench201SearchSpace as used by
NAS-Bench-Suite-Zero (= NB201's TinyNetwork, C=16, N=5) with affine, tracking BatchNorms in the cells.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from swapbench.errors import DataError, EncodingError
from swapbench.nn import pooling
from swapbench.spaces import register_space
from swapbench.spaces.base import CsvTruth, ReluConvBn, SearchSpace, TaskInfo, literal

# NASLib op order (the index used in NAS-Bench-Suite-Zero keys)
OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
OP_INDEX = {name: i for i, name in enumerate(OPS)}
# NASLib edge order, 0-based nodes: e0=0->1, e1=0->2, e2=0->3, e3=1->2, e4=1->3, e5=2->3
EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
INDEX_TABLE = "nas-bench-201/nb201_all_15625_200epoch_test.csv"

Arch = tuple[int, int, int, int, int, int]


def to_arch_str(arch: Arch) -> str:
    """NASLib tuple -> NB201 string (grouped by target node, then by source)."""
    nodes = []
    for target in (1, 2, 3):
        parts = [f"{OPS[arch[e]]}~{src}" for e, (src, dst) in enumerate(EDGES) if dst == target]
        nodes.append("|" + "|".join(parts) + "|")
    return "+".join(nodes)


_ARCH_STR = re.compile(r"^\|[^+]+\|(\+\|[^+]+\|)*$")


def from_arch_str(text: str) -> Arch:
    text = text.strip()
    if not _ARCH_STR.match(text):
        raise EncodingError(f"malformed NB201 arch string {text!r}")
    ops: dict[tuple[int, int], int] = {}
    node_groups = text.split("+")
    if len(node_groups) != 3:
        raise EncodingError(f"NB201 arch string {text!r} must have 3 nodes, found {len(node_groups)}")
    for target, group in enumerate(node_groups, start=1):
        items = [p for p in group.strip("|").split("|") if p]
        if len(items) != target:
            raise EncodingError(f"NB201 arch string {text!r}: node {target} needs {target} inputs")
        for item in items:
            name, _, src = item.partition("~")
            if name not in OP_INDEX or not src.isdigit() or int(src) >= target:
                raise EncodingError(f"NB201 arch string {text!r}: bad edge {item!r}")
            ops[(int(src), target)] = OP_INDEX[name]
    return tuple(ops[e] for e in EDGES)  # type: ignore[return-value]


@lru_cache(maxsize=4)
def _index_table(path: str) -> list[str]:
    import pandas as pd

    file = Path(path)
    if not file.exists():
        raise DataError(f"NB201 indices need {file} (missing); point --data-dir at a data dir that has it")
    return pd.read_csv(file, usecols=["ArchitectureString"])["ArchitectureString"].tolist()


def index_to_arch(index: int, data_dir: Path | None) -> Arch:
    if data_dir is None:
        raise EncodingError("NB201 index encodings need a data dir with the NB201 index table")
    table = _index_table(str(Path(data_dir) / INDEX_TABLE))
    if not 0 <= index < len(table):
        raise EncodingError(f"NB201 index {index} out of range 0..{len(table) - 1}")
    return from_arch_str(table[index])


# ---------------------------------------------------------------------------------------------
# network


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(index: int, c: int) -> nn.Module:
    name = OPS[index]
    if name == "skip_connect":
        return nn.Identity()
    if name == "none":
        return Zero()
    if name == "nor_conv_3x3":
        return ReluConvBn(c, c, 3)
    if name == "nor_conv_1x1":
        return ReluConvBn(c, c, 1)
    return pooling.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class Cell(nn.Module):
    def __init__(self, arch: Arch, c: int):
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, c) for op in arch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in (1, 2, 3):
            total = None
            for e, (src, dst) in enumerate(EDGES):
                if dst == target:
                    out = self.edges[e](nodes[src])
                    total = out if total is None else total + out
            nodes.append(total)
        return nodes[3]


class ResBlock(nn.Module):
    """NB201's reduction block: two ReLU-conv-BN 3x3 layers, avg-pool + 1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReluConvBn(c_in, c_out, 3, stride=2)
        self.conv_b = ReluConvBn(c_out, c_out, 3)
        self.shortcut = nn.Sequential(
            pooling.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    def __init__(self, arch: Arch, num_classes: int, c: int = 16, cells_per_stage: int = 5, stem: bool = True):
        super().__init__()
        # without a stem (TE-NAS's thin network) the first cell takes c-channel inputs directly
        self.stem: nn.Module = nn.Identity()
        if stem:
            self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        channels = [c, 2 * c, 4 * c]
        for stage, ch in enumerate(channels):
            if stage > 0:
                layers.append(ResBlock(channels[stage - 1], ch))
            layers.extend(Cell(arch, ch) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(channels[-1]), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.pool(x), 1))


# ---------------------------------------------------------------------------------------------


class NB201Space(SearchSpace):
    def parse(self, key: str, data_dir: Path | None = None) -> Arch:
        text = str(key).strip()
        if text.startswith("|"):
            return from_arch_str(text)
        if text.isdigit():
            return index_to_arch(int(text), data_dir)
        value = literal(text, "NB201")
        if (
            not isinstance(value, (tuple, list))
            or len(value) != 6
            or not all(isinstance(v, int) and 0 <= v < len(OPS) for v in value)
        ):
            raise EncodingError(
                f"malformed NB201 encoding {key!r}: expected 6 op indices in 0..4, an NB201 arch string "
                "or an NB201 index"
            )
        return tuple(value)  # type: ignore[return-value]

    def canonical_key(self, arch: Arch) -> str:
        return str(tuple(arch))

    def build(self, arch: Arch, task: str) -> nn.Module:
        info = self.task(task)
        return NB201Network(tuple(arch), num_classes=info.num_classes or 10).train()

    def build_thin(self, arch: Arch, task: str) -> nn.Module:
        # TENAS prune_tenas.py: C=1, N=1, use_stem=False; reduction blocks broadcast their shortcut on
        # 3x3 inputs exactly as TE-NAS's ResNetBasicblock does
        info = self.task(task)
        return NB201Network(tuple(arch), num_classes=info.num_classes or 10, c=1, cells_per_stage=1, stem=False).train()

    def random_arch(self, rng: np.random.Generator) -> Arch:
        return tuple(int(v) for v in rng.integers(0, len(OPS), size=6))  # type: ignore[return-value]

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Operation mutation (one edge gets another op) or, with equal chance, connectivity mutation (the
        ops of two edges that differ trade places: a connection moves to another pair of nodes)."""
        ops = list(arch)
        differing = [(i, j) for i in range(6) for j in range(i + 1, 6) if ops[i] != ops[j]]
        if differing and rng.random() < 0.5:
            i, j = differing[int(rng.integers(len(differing)))]
            ops[i], ops[j] = ops[j], ops[i]
        else:
            edge = int(rng.integers(6))
            ops[edge] = int(rng.choice([o for o in range(len(OPS)) if o != ops[edge]]))
        return tuple(ops)  # type: ignore[return-value]

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> tuple[Arch, Arch]:
        """Swap the incoming edges of one node (1, 2 or 3) between the parents."""
        target = int(rng.integers(1, 4))
        first, second = list(a), list(b)
        for e, (_, dst) in enumerate(EDGES):
            if dst == target:
                first[e], second[e] = b[e], a[e]
        return tuple(first), tuple(second)  # type: ignore[return-value]

    def describe(self, arch: Arch) -> dict[str, str]:
        return {"key": self.canonical_key(arch), "arch_str": to_arch_str(arch)}


_200EP = "nas-bench-201/nb201_all_15625_200epoch_test.csv"
_12EP = "nas-bench-201/nb201_all_15625_12epoch.csv"

SPACE = register_space(
    NB201Space(
        name="nb201",
        description="NAS-Bench-201 cell space (15625 archs), CIFAR-10/100 and ImageNet16-120",
        tasks={
            "cifar10": TaskInfo("cifar10", "cifar10", (3, 32, 32), num_classes=10),
            "cifar100": TaskInfo("cifar100", "cifar100", (3, 32, 32), num_classes=100),
            "ImageNet16-120": TaskInfo("ImageNet16-120", "imagenet16-120", (3, 16, 16), num_classes=120),
        },
        nbsz_file="zc_nasbench201.json",
        extra_truths={
            "nb201-200ep-test": CsvTruth(
                _200EP,
                "ArchitectureString",
                {
                    "cifar10": "CIFAR10TestAccuracy200Epochs",
                    "cifar100": "CIFAR100TestAccuracy200Epochs",
                    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
                },
                "all 15625 archs, 200-epoch test accuracy (NATS-Bench)",
            ),
            "nb201-12ep-val": CsvTruth(
                _12EP,
                "cellstr",
                {"cifar10": "cifar10-val", "cifar100": "cifar100-val", "ImageNet16-120": "imagenet-val"},
                "all 15625 archs, 12-epoch validation accuracy",
            ),
            "nb201-12ep-test": CsvTruth(
                _12EP,
                "cellstr",
                {"cifar10": "cifar10-test", "cifar100": "cifar100-test", "ImageNet16-120": "imagenet-test"},
                "all 15625 archs, 12-epoch test accuracy",
            ),
        },
    )
)
