"""The original DARTS space: `none`, both encodings, the evaluation network, the official SWAP one-cell network."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from test_cli import assert_clean_error, swapbench

from swapbench.data.benchmarks import load_json
from swapbench.errors import EncodingError, SwapbenchError
from swapbench.nn.counting import executed_params
from swapbench.spaces import get_space
from swapbench.spaces.darts import NONE, OPS, SwapCellNetwork

pytestmark = pytest.mark.usefixtures("one_thread")

DARTS = get_space("darts")
SWAP = get_space("darts-swap")
# quark0/darts genotypes.py, DARTS_V2; its CIFAR-10 evaluation network has 3.3 M parameters (DARTS Table 1)
V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
      "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
      "normal_concat=[2, 3, 4, 5], "
      "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
      "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
      "reduce_concat=[2, 3, 4, 5])")
WITH_NONE = V2.replace("('skip_connect', 0), ('dil_conv_3x3', 2)", "('none', 0), ('dil_conv_3x3', 2)").replace(
    "('max_pool_3x3', 1)], reduce_concat", "('none', 1)], reduce_concat")


def test_eight_ops_with_none_and_both_encodings():
    assert len(OPS) == 8 and OPS[NONE] == "none"
    arch = DARTS.parse(WITH_NONE)
    assert arch[0][6] == (0, NONE) and arch[1][7] == (1, NONE)
    key = DARTS.canonical_key(arch)
    assert DARTS.parse(key) == arch
    assert DARTS.describe(arch)["genotype"] == WITH_NONE
    with pytest.raises(EncodingError, match="not in the NB301 space"):
        get_space("nb301").parse(WITH_NONE)
    with pytest.raises(EncodingError, match="valid 0..7"):
        DARTS.parse(key.replace(f"(0, {NONE})", "(0, 8)", 1))
    with pytest.raises(EncodingError, match="reduce_concat"):
        DARTS.parse(V2.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[2, 3]"))
    with pytest.raises(EncodingError, match="op 'conv_9x9' is not in the DARTS space"):
        DARTS.parse(V2.replace("dil_conv_3x3", "conv_9x9"))
    with pytest.raises(EncodingError, match=r"DARTS encoding .*\(ops 0..7\)"):
        DARTS.parse("[1, 2, 3]")


def test_nb301_keys_mean_the_same_architecture(any_data_dir):
    keys = list(load_json(str(any_data_dir / "nas-bench-suite-zero/zc_nasbench301.json"))["cifar10"])[:50]
    nb301 = get_space("nb301")
    for key in keys:
        assert DARTS.canonical_key(DARTS.parse(key)) == nb301.canonical_key(nb301.parse(key))
    assert get_space("nb301").parse(V2) == DARTS.parse(V2)


def test_darts_v2_on_the_cifar10_evaluation_network_has_3_3m_params():
    arch = DARTS.parse(V2)
    with torch.device("meta"):
        net = get_space("darts").build(arch, "cifar10")
        aux = DARTS.variant()  # a copy of the same network, plus the auxiliary head
        aux.auxiliary = True
        net_aux = aux.build(arch, "cifar10")
    # DARTS' count_parameters_in_MB (all parameters but the auxiliary head): 3.349342 for DARTS_V2
    assert sum(p.numel() for p in net.parameters()) == 3_349_342
    assert sum(p.numel() for n, p in net_aux.named_parameters() if "auxiliary" not in n) == 3_349_342
    assert sum(p.numel() for p in net_aux.parameters()) > 3_349_342 + 400_000  # the head exists ...
    with torch.device("meta"):
        assert executed_params(net_aux, (3, 32, 32)) == pytest.approx(3.349342)  # ... but is outside Θ


def test_network_size_variants_have_their_own_names():
    small = get_space("darts[C=16,L=8]")
    assert small.name == "darts[C=16,L=8]" and (small.channels, small.layers) == (16, 8)
    assert get_space("darts").channels == 36  # the registered space is untouched
    with torch.device("meta"):
        net = small.build(DARTS.parse(V2), "cifar10")
    assert len(net.cells) == 8
    with pytest.raises(SwapbenchError, match="bad network option"):
        get_space("darts[K=3]")
    with pytest.raises(SwapbenchError, match="no network options"):
        get_space("nb201[C=3]")


def test_official_swap_one_cell_network():
    arch = SWAP.parse(WITH_NONE)
    net = SWAP.build(arch, "cifar10")
    assert isinstance(net, SwapCellNetwork) and len(net.cells) == 1
    assert not hasattr(net, "stem")
    out = net(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 24)  # pooled features of one reduction cell: 4 nodes x 2C, C = 3
    # Θ in thousands of parameters, classifier included (it runs), as the official count_parameters
    theta = executed_params(SWAP.build(SWAP.parse(V2), "cifar10"), (3, 32, 32)) * 1e6 / SWAP.size_unit
    assert theta == pytest.approx(0.310)
    rng = np.random.default_rng(0)
    with torch.device("meta"):
        sizes = [executed_params(SWAP.build(SWAP.random_arch(rng), "cifar10"), (3, 32, 32)) * 1e3 for _ in range(100)]
    assert 0.3 < min(sizes) and max(sizes) < 2.6  # the paper's Fig. 5a: 0.5 to 2.5 "KB"
    assert SWAP.task("cifar10").default_batch_size == 16  # the official correlation script's input_samples


def test_correlate_on_genotypes_with_none(tmp_path, synthetic_data_dir):
    data_dir = synthetic_data_dir
    rng = np.random.default_rng(3)
    archs = [SWAP.random_arch(rng) for _ in range(6)]
    archs[0] = SWAP.parse(WITH_NONE)
    rows = [dict(genotype=SWAP.describe(a)["genotype"], acc=90.0 + i) for i, a in enumerate(archs)]
    assert any("'none'" in r["genotype"] for r in rows)
    truth = tmp_path / "darts_truth.csv"
    pd.DataFrame(rows).to_csv(truth, index=False)
    out = tmp_path / "run"
    # the paper's correlation setting: the DARTS space scored as the official code does, on its one-cell network
    proc = swapbench("correlate", "--space", "darts", "--task", "cifar10", "--protocol", "swap-official",
                     "--proxies", "swap,reg_swap", "--repeats", "2",
                     "--truth", str(truth), "--arch-column", "genotype", "--acc-column", "acc", "--seeds", "0",
                     "--n-archs", "6", "--threads", "1", "--out", str(out), "--cache", str(out / "c.sqlite"),
                     "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    assert "on the darts-swap network" in proc.stderr
    scores = pd.read_csv(out / "scores.csv.gz")
    assert len(scores) == 12 and (scores["score"] > 0).all()
    meta = json.loads((out / "run.json").read_text())
    assert meta["columns"][0]["protocol"] == "swap-official" and meta["columns"][0]["batch_size"] == 16
    bad = swapbench("correlate", "--space", "nb301", "--task", "cifar10", "--truth", str(truth), "--arch-column",
                    "genotype", "--acc-column", "acc", "--seeds", "0", "--out", str(tmp_path / "bad"),
                    "--data-dir", str(data_dir))
    assert_clean_error(bad, "none")
