"""NB201: encodings and the network NAS-Bench-Suite-Zero scored (parameter counts)."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
import torch

from swapbench.data.benchmarks import load_json
from swapbench.errors import EncodingError, SwapbenchError
from swapbench.spaces import get_space
from swapbench.spaces.nb201 import from_arch_str, to_arch_str

pytestmark = pytest.mark.usefixtures("one_thread")

SPACE = get_space("nb201")


def test_example_from_the_spec():
    arch = SPACE.parse("(0, 2, 3, 2, 3, 1)")
    assert to_arch_str(arch) == (
        "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
    )
    net = SPACE.build(arch, "cifar10")
    # per-cell: conv3x3 edge 9C^2+2C, conv1x1 edge C^2+2C; fixed stem+blocks+head
    per_cell = lambda c: 2 * (9 * c * c + 2 * c) + 2 * (c * c + 2 * c)  # noqa: E731
    expected = 464 + 14464 + 57600 + 128 + 65 * 10 + 5 * sum(per_cell(c) for c in (16, 32, 64))
    assert sum(p.numel() for p in net.parameters()) == expected == 615386


def test_round_trip_all_15625():
    for arch in itertools.product(range(5), repeat=6):
        assert from_arch_str(to_arch_str(arch)) == arch
        assert SPACE.parse(SPACE.canonical_key(arch)) == arch


def test_index_encoding(any_data_dir):
    table = pd.read_csv(any_data_dir / "nas-bench-201/nb201_all_15625_200epoch_test.csv")
    for index in (0, 1, 777, 15624):
        assert to_arch_str(SPACE.parse(str(index), any_data_dir)) == table["ArchitectureString"][index]


@pytest.mark.parametrize("bad", ["(0, 2, 3)", "(0, 2, 3, 2, 3, 9)", "not an arch", "|foo~0|+|bar~0|baz~1|",
                                 "|skip_connect~0|+|none~0|+|none~0|none~1|none~2|", "[1, 2", "99999"])
def test_malformed_encodings(bad, synthetic_data_dir):
    with pytest.raises(EncodingError):
        SPACE.parse(bad, synthetic_data_dir)


def test_unknown_task():
    with pytest.raises(SwapbenchError, match="no task"):
        SPACE.build((0,) * 6, "mnist")


@pytest.mark.slow  # the published tables, every architecture
@pytest.mark.parametrize("task", ["cifar10", "cifar100", "ImageNet16-120"])
def test_params_equal_stored_for_every_arch(task, data_dir):
    table = load_json(str(data_dir / "nas-bench-suite-zero/zc_nasbench201.json"))[task]
    mismatches = []
    for key, entry in table.items():
        net = SPACE.build(SPACE.parse(key), task)
        params = sum(p.numel() for p in net.parameters()) / 1e6
        if abs(params - entry["params"]["score"]) > 1e-6:
            mismatches.append(key)
    assert len(table) >= 724 and not mismatches


def test_forward_shapes():
    net = SPACE.build((2, 3, 4, 0, 1, 2), "ImageNet16-120")
    assert net.training
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 120)
