"""NB101: decoding and pruning of NASLib's raw flat specs, and the network NAS-Bench-Suite-Zero scored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swapbench.data.benchmarks import load_json
from swapbench.errors import EncodingError, SwapbenchError
from swapbench.spaces import get_space
from swapbench.spaces.counts import executed_counts, executed_params
from swapbench.spaces.nb101 import vertex_channels

SPACE = get_space("nb101")


def flat(matrix: list[list[int]], ops: list[int]) -> str:
    return str((*(v for row in matrix for v in row), *ops))


@pytest.fixture(scope="module")
def table(data_dir):
    return load_json(str(data_dir / "nas-bench-suite-zero/zc_nasbench101.json"))["nasbench101"]["cifar10"]


def test_params_and_flops_equal_stored_on_a_sample(table):
    keys = list(table)[::12]  # 42 of 500
    for key in keys:
        with torch.device("meta"):
            net = SPACE.build(SPACE.parse(key), "cifar10")
        params, flops = executed_counts(net, (3, 32, 32))
        assert abs(params - table[key]["params"]) < 1e-6, key
        assert abs(flops - table[key]["flops"]) < 1e-6, key


def test_spec_examples(table):
    expected = [4.095778, 1.749031, 4.518282, 0.882570, 1.580170]
    for key, value in zip(list(table)[:5], expected, strict=True):
        with torch.device("meta"):
            net = SPACE.build(SPACE.parse(key), "cifar10")
        assert abs(executed_params(net, (3, 32, 32)) - value) < 1e-6


def test_keys_round_trip_and_prune(table):
    canon = set()
    for key in table:
        arch = SPACE.parse(key)
        assert SPACE.parse(SPACE.canonical_key(arch)) == arch
        matrix = np.asarray(arch[0])
        assert matrix.sum() <= 9 and not np.tril(matrix).any()
        canon.add(SPACE.canonical_key(arch))
    assert len(canon) < len(table)  # raw specs that prune to the same network share a key


def test_pruning_drops_dangling_vertices():
    # 0 -> 1 -> 6; vertex 2 has no input, vertex 3 no output, 4 and 5 are isolated
    m = [[0] * 7 for _ in range(7)]
    m[0][1] = m[1][6] = m[2][6] = m[0][3] = 1
    arch = SPACE.parse(flat(m, [0, 4, 3, 2, 4, 4, 1]))
    assert arch == (((0, 1, 0), (0, 0, 1), (0, 0, 0)), (0, 4, 1))


def test_vertex_channels():
    # input -> a, input -> b, a -> out, b -> c, c -> out, input -> out
    m = np.array([[0, 1, 1, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]])
    assert vertex_channels(128, 257, m) == [128, 129, 128, 128, 257]


@pytest.mark.parametrize("bad", [
    "(0, 1, 0, 0, 1)",  # 5 entries: not n*n + n
    "(0, 1, 1, 0, 0, 1)",  # n=2 but entry [1][0] set
    "(0, 1, 0, 0, 0, 7)",  # bad op code
    "(0, 1, 0, 0, 1, 0)",  # output first
    "(0, 0, 0, 0, 0, 1)",  # input not connected to output
    "(0, 2, 0, 0, 0, 1)",  # adjacency entry not 0/1
    "(0, 1, 0, 0, 0.5, 1)",
    "not a tuple",
    "{'a': 1}",
])
def test_malformed_encodings(bad):
    with pytest.raises(EncodingError):
        SPACE.parse(bad)


def test_too_many_edges_after_pruning():
    m = [[1 if j > i else 0 for j in range(7)] for i in range(7)]  # 21 edges, nothing to prune
    with pytest.raises(EncodingError, match="edges"):
        SPACE.parse(flat(m, [0, 4, 4, 4, 4, 4, 1]))


def test_unknown_task():
    arch = SPACE.parse(flat([[0, 1], [0, 0]], [0, 1]))
    with pytest.raises(SwapbenchError, match="no task"):
        SPACE.build(arch, "cifar100")


def test_forward_and_train_mode():
    m = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    net = SPACE.build(SPACE.parse(flat(m, [0, 3, 2, 1])), "cifar10")
    assert net.training
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    executed_params(net, (3, 32, 32))
    assert all(mod.training for mod in net.modules())


def test_random_arch_is_valid_and_seeded():
    a = [SPACE.random_arch(np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    assert SPACE.parse(SPACE.canonical_key(a[0])) == a[0]
