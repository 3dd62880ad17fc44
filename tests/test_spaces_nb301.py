"""NB301 / DARTS: compact and Genotype encodings, NAS-Bench-Suite-Zero's network, SWAP's search network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swapbench.data.benchmarks import load_json
from swapbench.errors import EncodingError, SwapbenchError
from swapbench.nn.counting import executed_counts
from swapbench.spaces import get_space
from swapbench.spaces.darts import SwapCellNetwork
from swapbench.spaces.nb301 import Genotype, to_genotype

pytestmark = pytest.mark.usefixtures("one_thread")

SPACE = get_space("nb301")
GENO = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_5x5', 1), "
        "('dil_conv_3x3', 2), ('max_pool_3x3', 0), ('avg_pool_3x3', 3), ('dil_conv_5x5', 4)], "
        "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
        "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('skip_connect', 2), "
        "('avg_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def nb301_table(data_dir):
    return load_json(str(data_dir / "nas-bench-suite-zero/zc_nasbench301.json"))["cifar10"]


@pytest.fixture(scope="module")
def table(data_dir):
    """The published table."""
    return nb301_table(data_dir)


@pytest.fixture
def any_table(any_data_dir):
    """The synthetic table, and (slow) the published one."""
    return nb301_table(any_data_dir)


@pytest.mark.slow  # the published table
def test_params_and_flops_equal_stored_on_a_sample(table):
    for key in list(table)[::25]:  # 29 of 725
        with torch.device("meta"):
            net = SPACE.build(SPACE.parse(key), "cifar10")
        params, flops = executed_counts(net, (3, 32, 32))
        assert abs(params - table[key]["params"]["score"]) < 1e-6, key
        assert abs(flops - table[key]["flops"]["score"]) < 1e-6, key


@pytest.mark.slow  # the published table
def test_spec_examples(table):
    for key, value in zip(list(table)[:5], [0.856298, 0.673834, 0.885674, 0.769834, 0.740458], strict=True):
        with torch.device("meta"):
            net = SPACE.build(SPACE.parse(key), "cifar10")
        assert abs(executed_counts(net, (3, 32, 32))[0] - value) < 1e-6


def test_round_trips(any_table):
    for key in any_table:
        arch = SPACE.parse(key)
        assert SPACE.canonical_key(arch) == key
        assert SPACE.parse(str(to_genotype(arch))) == arch


def test_genotype_string():
    arch = SPACE.parse(GENO)
    assert arch[0][:2] == ((0, 3), (1, 3)) and arch[1][-1] == (1, 1)
    assert SPACE.parse(SPACE.canonical_key(arch)) == arch
    positional = GENO.replace("normal=", "").replace("normal_concat=", "").replace("reduce=", "")
    assert SPACE.parse(positional.replace("reduce_concat=", "")) == arch


@pytest.mark.parametrize("bad", [
    "[[(0, 0)] * 8, [(0, 0)] * 8]",  # not a literal
    "[[(0, 0), (1, 1)], [(0, 0), (1, 1)]]",  # too few pairs
    str([[(0, 7)] * 8, [(0, 0)] * 8]),  # op out of range
    str([[(0, 0), (1, 0), (3, 0)] + [(0, 0)] * 5, [(0, 0)] * 8]),  # node 1 reads node 1
    GENO.replace("'sep_conv_3x3', 0", "'none', 0"),  # op outside NB301
    GENO.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3]"),
    "Genotype(normal=__import__('os').getcwd(), reduce=[])",
    "Genotype(normal=[], reduce=[], extra=1)",
    "Foo(normal=[], reduce=[])",
    "Genotype(normal=[('sep_conv_3x3', 0)",
])
def test_malformed_encodings(bad):
    with pytest.raises(EncodingError):
        SPACE.parse(bad)


def test_unknown_task():
    with pytest.raises(SwapbenchError, match="no task"):
        SPACE.build(SPACE.parse(GENO), "cifar100")


def test_forward_and_random_arch():
    arch = SPACE.random_arch(np.random.default_rng(0))
    assert SPACE.parse(SPACE.canonical_key(arch)) == arch
    net = SPACE.build(arch, "cifar10")
    assert net.training and not hasattr(net, "auxiliary")
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    cell_bns = [m for c in net.cells for m in c.ops.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert cell_bns and not any(bn.affine for bn in cell_bns)


def test_swap_search_network():
    skip = [("skip_connect", 0), ("skip_connect", 1)] * 4
    net = SwapCellNetwork(Genotype(skip, [2, 3, 4, 5], skip, [2, 3, 4, 5]))
    # one reduction cell at C=6: two ReLU-conv-BN preprocessors (3->6), 8 factorized reductions, Linear(24, 10)
    assert sum(p.numel() for p in net.parameters()) == 2 * (18 + 12) + 8 * (2 * 18 + 12) + 250 == 694
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 24)  # pooled features, as the original returns
    with_none = [("none", 0), ("sep_conv_3x3", 1)] * 4
    net = SwapCellNetwork(Genotype(with_none, [2, 3, 4, 5], with_none, [2, 3, 4, 5]), logits=True)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    deeper = SwapCellNetwork(to_genotype(SPACE.parse(GENO)), c=16, layers=5)
    assert deeper.cells[0].pre0[1].in_channels == 16 and deeper(torch.randn(1, 16, 32, 32)).shape == (1, 256)
