"""NAS-Bench-101 (Ying et al., ICML 2019): cells of at most 7 vertices and 9 edges, 3 ops.

Encoding understood by `parse`: NASLib's flat tuple (as in NAS-Bench-Suite-Zero's keys): the n x n
adjacency matrix row-major (entry [i][j] = edge i -> j), then n op codes, with n*n + n entries in all.
Op codes: 0 input, 1 output, 2 maxpool3x3, 3 conv1x1-bn-relu, 4 conv3x3-bn-relu.

NAS-Bench-Suite-Zero's keys are raw, unpruned specs; the canonical architecture is the pruned spec
(vertices that do not lie on an input -> output path removed), so raw specs that describe the same network
share one canonical key (the flat tuple of the pruned spec). The network is the NB101 CIFAR model:
stem, 3 stacks of 3 cells with max-pooling in between, global average pool, linear head.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from swapbench.errors import EncodingError
from swapbench.nn import pooling
from swapbench.spaces import register_space
from swapbench.spaces.base import SearchSpace, TaskInfo, literal

OPS = ("input", "output", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")
INPUT, OUTPUT, MAXPOOL, CONV1, CONV3 = range(5)
MAX_VERTICES = 7
MAX_EDGES = 9

# (matrix rows as tuples, op codes), pruned
Arch = tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]


def prune(matrix: np.ndarray, ops: list[int]) -> tuple[np.ndarray, list[int]]:
    """Keep the vertices that are reachable from the input and reach the output (NB101 ModelSpec)."""
    n = len(ops)
    forward = {0}
    for i in range(n):
        if i in forward:
            forward.update(j for j in range(i + 1, n) if matrix[i, j])
    backward = {n - 1}
    for j in range(n - 1, -1, -1):
        if j in backward:
            backward.update(i for i in range(j) if matrix[i, j])
    keep = sorted(forward & backward)
    if 0 not in keep or n - 1 not in keep:
        raise EncodingError("NB101 spec is invalid: the input is not connected to the output")
    return matrix[np.ix_(keep, keep)], [ops[i] for i in keep]


def decode_flat(values: tuple | list, key: str) -> Arch:
    length = len(values)
    n = int(round((-1 + math.sqrt(1 + 4 * length)) / 2))
    if n * n + n != length or not 2 <= n <= MAX_VERTICES:
        raise EncodingError(
            f"malformed NB101 encoding {key!r}: expected n*n + n values (n <= {MAX_VERTICES} vertices, "
            f"56 for n = 7), got {length}"
        )
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise EncodingError(f"malformed NB101 encoding {key!r}: all entries must be integers")
    matrix = np.asarray(values[: n * n], dtype=np.int64).reshape(n, n)
    ops = [int(v) for v in values[n * n :]]
    if not np.isin(matrix, (0, 1)).all():
        raise EncodingError(f"malformed NB101 encoding {key!r}: adjacency entries must be 0 or 1")
    if np.tril(matrix).any():
        raise EncodingError(f"malformed NB101 encoding {key!r}: adjacency matrix must be strictly upper-triangular")
    if ops[0] != INPUT or ops[-1] != OUTPUT or any(op not in (MAXPOOL, CONV1, CONV3) for op in ops[1:-1]):
        raise EncodingError(
            f"malformed NB101 encoding {key!r}: op codes must be 0 (input) first, 1 (output) last and "
            "2/3/4 (maxpool3x3, conv1x1, conv3x3) in between"
        )
    try:
        pruned, pops = prune(matrix, ops)
    except EncodingError as exc:
        raise EncodingError(f"NB101 encoding {key!r}: {exc}") from None
    if int(pruned.sum()) > MAX_EDGES:
        raise EncodingError(f"NB101 encoding {key!r} has {int(pruned.sum())} edges after pruning (max {MAX_EDGES})")
    return tuple(tuple(int(v) for v in row) for row in pruned), tuple(pops)


def to_flat(arch: Arch) -> tuple[int, ...]:
    matrix, ops = arch
    return (*(v for row in matrix for v in row), *ops)


# ---------------------------------------------------------------------------------------------
# network


class ConvBnRelu(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, padding=(kernel - 1) // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=False),
        )


def vertex_channels(c_in: int, c_out: int, matrix: np.ndarray) -> list[int]:
    """NB101's channel split: the output's channels are shared among the vertices feeding it."""
    v = matrix.shape[0]
    channels = [0] * v
    channels[0], channels[-1] = c_in, c_out
    if v == 2:
        return channels
    feeders = [t for t in range(1, v - 1) if matrix[t, v - 1]]
    base, rem = divmod(c_out, len(feeders))
    for i, t in enumerate(feeders):
        channels[t] = base + (1 if i < rem else 0)
    for t in range(v - 3, 0, -1):
        if not matrix[t, v - 1]:
            for dst in range(t + 1, v - 1):
                if matrix[t, dst]:
                    channels[t] = max(channels[t], channels[dst])
    return channels


class Cell(nn.Module):
    def __init__(self, arch: Arch, c_in: int, c_out: int):
        super().__init__()
        self.matrix = np.asarray(arch[0], dtype=np.int64)
        ops = arch[1]
        v = len(ops)
        self.channels = vertex_channels(c_in, c_out, self.matrix)
        self.vertex_ops = nn.ModuleDict()
        for t in range(1, v - 1):
            c = self.channels[t]
            if ops[t] == CONV3:
                self.vertex_ops[str(t)] = ConvBnRelu(c, c, 3)
            elif ops[t] == CONV1:
                self.vertex_ops[str(t)] = ConvBnRelu(c, c, 1)
            else:
                self.vertex_ops[str(t)] = pooling.MaxPool2d(3, stride=1, padding=1)
        self.projections = nn.ModuleDict(
            {str(t): ConvBnRelu(c_in, self.channels[t], 1) for t in range(1, v) if self.matrix[0, t]}
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, v = self.matrix, self.matrix.shape[0]
        outs: dict[int, torch.Tensor] = {}
        for t in range(1, v - 1):
            c = self.channels[t]
            inputs = [outs[s][:, :c] for s in range(1, t) if m[s, t]]
            if m[0, t]:
                inputs.append(self.projections[str(t)](x))
            outs[t] = self.vertex_ops[str(t)](sum(inputs[1:], inputs[0]))
        feeders = [outs[t] for t in range(1, v - 1) if m[t, v - 1]]
        if not feeders:
            return self.projections[str(v - 1)](x)
        out = feeders[0] if len(feeders) == 1 else torch.cat(feeders, dim=1)
        if m[0, v - 1]:
            out = out + self.projections[str(v - 1)](x)
        return out


class GlobalMean(nn.Module):
    """Mean over H and W. The NAS-Bench-101 model takes a plain mean, which the FLOP counts of the table
    leave out, so this is not an AdaptiveAvgPool2d; `global_pool` lets zen find its input all the same."""

    global_pool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class NB101Network(nn.Module):
    def __init__(self, arch: Arch, num_classes: int = 10, stem: int = 128, stacks: int = 3, cells: int = 3):
        super().__init__()
        layers: list[nn.Module] = [ConvBnRelu(3, stem, 3)]
        c_in = c_out = stem
        for stack in range(stacks):
            if stack > 0:
                layers.append(pooling.MaxPool2d(2, stride=2))
                c_out *= 2
            for _ in range(cells):
                layers.append(Cell(arch, c_in, c_out))
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.pool = GlobalMean()
        self.classifier = nn.Linear(c_out, num_classes)
        self._init()

    def _init(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan))
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.layers(x)))


def _padded(arch: Arch, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """A pruned spec as a 7-vertex spec: the output moves to vertex 6, the missing vertices (just before it)
    get random ops and no edges, so mutation can bring them back."""
    matrix, ops = np.asarray(arch[0], dtype=np.int64), list(arch[1])
    n = len(ops)
    index = [*range(n - 1), MAX_VERTICES - 1]
    full = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int64)
    full[np.ix_(index, index)] = matrix
    fill = [int(v) for v in rng.integers(MAXPOOL, CONV3 + 1, size=MAX_VERTICES - n)]
    return full, [*ops[:-1], *fill, OUTPUT]


def _valid(matrix: np.ndarray, ops: list[int]) -> Arch | None:
    try:
        return decode_flat((*matrix.ravel().tolist(), *ops), "search")
    except EncodingError:
        return None


# ---------------------------------------------------------------------------------------------


class NB101Space(SearchSpace):
    def parse(self, key: str, data_dir: Path | None = None) -> Arch:
        value = literal(str(key), "NB101")
        if not isinstance(value, (tuple, list)):
            raise EncodingError(f"malformed NB101 encoding {key!r}: expected a flat tuple of ints")
        return decode_flat(value, str(key))

    def canonical_key(self, arch: Arch) -> str:
        return str(to_flat(arch))

    def build(self, arch: Arch, task: str) -> nn.Module:
        info = self.task(task)
        return NB101Network(arch, num_classes=info.num_classes or 10).train()

    def random_arch(self, rng: np.random.Generator) -> Arch:
        """NASLib's sampler: a random upper-triangular 7x7 matrix and random ops, redrawn until the pruned
        spec is valid (connected, at most 9 edges)."""
        while True:
            matrix = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), 1)
            ops = [INPUT, *(int(v) for v in rng.integers(MAXPOOL, CONV3 + 1, size=MAX_VERTICES - 2)), OUTPUT]
            try:
                return decode_flat((*matrix.ravel().tolist(), *ops), "random")
            except EncodingError:
                continue

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """On the spec padded back to 7 vertices (pruned vertices return without edges and with random ops):
        change one interior op or, with equal chance, toggle one edge; redrawn until the pruned spec is valid
        and differs from `arch`. After 100 failed draws two edges are toggled at once (the input -> output cell
        has no valid single-edge neighbour); the parent itself after 1000."""
        key = self.canonical_key(arch)
        for attempt in range(1000):
            matrix, ops = _padded(arch, rng)
            if rng.random() < 0.5:
                vertex = int(rng.integers(1, MAX_VERTICES - 1))
                ops[vertex] = int(rng.choice([o for o in (MAXPOOL, CONV1, CONV3) if o != ops[vertex]]))
            else:
                for _ in range(1 if attempt < 100 else 2):
                    i, j = sorted(rng.choice(MAX_VERTICES, size=2, replace=False).tolist())
                    matrix[i, j] = 1 - matrix[i, j]
            child = _valid(matrix, ops)
            if child is not None and self.canonical_key(child) != key:
                return child
        return arch

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> tuple[Arch, Arch]:
        """Swap one vertex's incoming edges and op between the padded parents; vertices are tried in random
        order until both children are valid (the parents themselves if none works)."""
        ma, oa = _padded(a, rng)
        mb, ob = _padded(b, rng)
        for vertex in rng.permutation(np.arange(1, MAX_VERTICES)).tolist():
            ca, cb = ma.copy(), mb.copy()
            ca[:, vertex], cb[:, vertex] = mb[:, vertex], ma[:, vertex]
            pa, pb = list(oa), list(ob)
            pa[vertex], pb[vertex] = ob[vertex], oa[vertex]
            first, second = _valid(ca, pa), _valid(cb, pb)
            if first is not None and second is not None:
                return first, second
        return a, b

    def describe(self, arch: Arch) -> dict[str, object]:
        return {"key": self.canonical_key(arch), "matrix": [list(r) for r in arch[0]],
                "ops": [OPS[o] for o in arch[1]]}


SPACE = register_space(
    NB101Space(
        name="nb101",
        description="NAS-Bench-101 cell space (423k archs), CIFAR-10",
        tasks={"cifar10": TaskInfo("cifar10", "cifar10", (3, 32, 32), num_classes=10)},
        nbsz_file="zc_nasbench101.json",
        nbsz_prefix=("nasbench101",),
    )
)
