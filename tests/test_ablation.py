"""The paper's ablations: |A| and Psi by hand, the regulariser grid, disjoint groups, the two CLI commands (in this
process, on the synthetic data dir; one bad-input case in a real process)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, run_main
from torch import nn

from swapbench.errors import SwapbenchError
from swapbench.proxies.swap import count_patterns
from swapbench.study import ablation as ab

pytestmark = pytest.mark.usefixtures("one_thread")


def swapbench(*args: str) -> subprocess.CompletedProcess:
    """`swapbench ARGS` in this process."""
    return run_main(list(args))


def swapbench_process(*args: str) -> subprocess.CompletedProcess:
    """`python -m swapbench.cli ARGS` in a process of its own."""
    return subprocess.run([sys.executable, "-m", "swapbench.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------------------------
# counting by hand


def tiny_net(weights: list[float]) -> nn.Module:
    """One 1x1 conv (1 -> len(weights) channels, no bias) and a ReLU: unit k computes relu(w_k * x)."""
    conv = nn.Conv2d(1, len(weights), 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(weights).view(-1, 1, 1, 1))
    return nn.Sequential(conv, nn.ReLU())


def test_pattern_counts_by_hand():
    # units (w = 1, -1, 2) on samples x = 1, 2, -1, 0:
    #   per-sample codes (rows):   (1,0,1) (1,0,1) (0,1,0) (0,0,0)  -> |A| = 3 distinct, <= 4 samples
    #   per-unit patterns (cols):  u0 = u2 = (1,1,0,0), u1 = (0,0,1,0) -> Psi = 2
    net = tiny_net([1.0, -1.0, 2.0])
    x = torch.tensor([1.0, 2.0, -1.0, 0.0]).view(4, 1, 1, 1)
    assert ab.pattern_counts(net, x) == (3, 2)
    assert count_patterns(net, x) == 2  # the same Psi as the swap metric's counter


def test_pattern_counts_bounds_and_saturation():
    net = tiny_net([1.0, -1.0])
    x = torch.tensor([1.0, 3.0, 5.0]).view(3, 1, 1, 1)  # every sample has code (1, 0)
    assert ab.pattern_counts(net, x) == (1, 2)
    torch.manual_seed(0)
    wide = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())
    xs = torch.randn(6, 3, 8, 8)
    std, psi = ab.pattern_counts(wide, xs)
    assert std == 6  # many units: every sample's code is distinct (saturated at the batch size)
    assert psi == count_patterns(wide, xs) and 6 < psi <= 2**6


def test_resize_batch_modes():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    gen = torch.Generator().manual_seed(0)
    crop = ab.resize_batch(x, 3, "crop", gen)
    assert crop.shape == (2, 3, 3, 3)
    # a crop is a contiguous window of the image
    top = int((crop[0, 0, 0, 0] - x[0, 0, 0, 0]).item()) // 8
    left = int((crop[0, 0, 0, 0] - x[0, 0, 0, 0]).item()) % 8
    assert torch.equal(crop[0], x[0, :, top:top + 3, left:left + 3])
    assert torch.equal(ab.resize_batch(x, 8, "crop", gen), x)
    assert ab.resize_batch(x, 4, "bilinear", gen).shape == (2, 3, 4, 4)
    with pytest.raises(SwapbenchError):
        ab.resize_batch(x, 9, "crop", gen)


# ---------------------------------------------------------------------------------------------
# regulariser grid


def test_regularised_known_values():
    psi, theta = np.array([100.0, 200.0, 300.0]), np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(ab.regularised(psi, theta, None, None, "paper"), psi)
    # paper: exp(-((theta - mu) / sigma)^2), mu = sigma = 1 -> exponents 0, -1, -4
    np.testing.assert_allclose(ab.regularised(psi, theta, 1.0, 1.0, "paper"),
                               [100.0, 200.0 * math.exp(-1), 300.0 * math.exp(-4)])
    # code: exp(-(theta - mu)^2 / sigma), mu = 1, sigma = 2 -> exponents 0, -0.5, -2
    np.testing.assert_allclose(ab.regularised(psi, theta, 1.0, 2.0, "code"),
                               [100.0, 200.0 * math.exp(-0.5), 300.0 * math.exp(-2)])


def test_apply_grid_spearman_and_underflow():
    # bigger nets have more patterns but lower accuracy: no regularisation ranks them exactly backwards,
    # a regulariser centred on the smallest net ranks them exactly right
    scores = pd.DataFrame(dict(group=[1, 1, 1, 2, 2, 2], psi=[100, 200, 300, 100, 200, 300],
                               params_m=[1.0, 2.0, 3.0] * 2, accuracy=[3.0, 2.0, 1.0] * 2))
    grid = [ab.GridRow(ab.NO_REG, None, None, (0.5, 0.6)), ab.GridRow(ab.EQUAL, 1.0, 1.0),
            ab.GridRow(ab.FIX_MU, 40.0, 0.3)]
    long = ab.apply_grid(scores, grid, ["paper", "code"])
    assert len(long) == 3 * 2 * 2
    get = long.set_index(["form", "block", "group"])
    assert get.loc[("paper", ab.NO_REG, 1), "spearman"] == pytest.approx(-1.0)
    assert get.loc[("paper", ab.NO_REG, 2), "paper_spearman"] == pytest.approx(0.6)
    assert get.loc[("paper", ab.EQUAL, 2), "spearman"] == pytest.approx(1.0)
    assert get.loc[("code", ab.EQUAL, 1), "spearman"] == pytest.approx(1.0)
    # mu = 40, sigma = 0.3: every score underflows to exactly 0 -> ties, correlation undefined
    assert get.loc[("paper", ab.FIX_MU, 1), "zero_fraction"] == 1.0
    assert np.isnan(get.loc[("paper", ab.FIX_MU, 1), "spearman"])
    wide = ab.grid_table(long)
    assert {"g1", "g2", "paper_g1", "paper_g2", "mean"} <= set(wide.columns)
    row = wide[(wide["form"] == "paper") & (wide["block"] == ab.NO_REG)].iloc[0]
    assert row["g1"] == pytest.approx(-1.0) and row["paper_mean"] == pytest.approx(0.55)


def test_paper_grids_hold_the_paper_values():
    rows, name = ab.default_grid("nb101", 40.0)
    assert name == "Table 4" and rows[0].block == ab.NO_REG and rows[0].mu is None
    over = next(r for r in rows if r.block == ab.EQUAL and r.mu == 0.3)
    assert over.sigma == 0.3 and over.paper[0] == -0.77
    best = next(r for r in ab.default_grid("nb201", 1.5)[0] if r.block == ab.EQUAL and r.mu == 1.5)
    assert best.paper == (0.89, 0.87, 0.87, 0.89, 0.87)
    generic, none = ab.default_grid("tnb101_micro", 2.0)
    assert none is None and any(r.mu == 2.0 for r in generic)
    with pytest.raises(SwapbenchError):
        ab.default_grid("elsewhere", None)


# ---------------------------------------------------------------------------------------------
# groups


def test_disjoint_groups_are_disjoint_and_deterministic():
    groups = ab.disjoint_groups(100, 5, 20, seed=3)
    assert [len(g) for g in groups] == [20] * 5
    flat = [i for g in groups for i in g]
    assert len(set(flat)) == 100 and set(flat) == set(range(100))  # disjoint, and here a partition
    assert groups[0] != list(range(20))  # drawn at random even when the groups use every row
    assert ab.disjoint_groups(100, 5, 20, seed=3) == groups
    assert ab.disjoint_groups(100, 5, 20, seed=4) != groups
    small = ab.disjoint_groups(15625, 5, 7, seed=0)
    assert len({i for g in small for i in g}) == 35
    with pytest.raises(SwapbenchError, match="only 99"):
        ab.disjoint_groups(99, 5, 20, seed=0)


# ---------------------------------------------------------------------------------------------
# against the metrics


def test_size_variants_match_the_metrics(tmp_path, synthetic_data_dir, one_thread):
    """At the images' own size the ablation scores `swap` and `std_patterns` themselves; |A| and Psi there are
    the one-forward counts of `pattern_counts` on the same Gaussian-initialised network and batch."""
    data_dir = synthetic_data_dir
    from swapbench.proxies.swap import gaussian_init
    from swapbench.study.runner import build_network, run_batch, score_arch, sized_batch

    config = ab.InputSizeConfig(n_archs=3, sizes=[8, 32], batch_size=8, device="cpu", data_dir=str(data_dir),
                                cache=str(tmp_path / "c.sqlite"))
    iplan = ab.plan_input_size(config)
    plan = iplan.plan
    assert iplan.effective == {8: 8, 32: 32}
    assert [s.name for s in plan.proxies] == ["params", "std_patterns@8x8", "swap@8x8", "std_patterns", "swap"]
    batch = run_batch(plan, 0, "")
    assert torch.equal(sized_batch(batch[0], 32, "crop", 0), batch[0])  # a 32x32 crop of 32x32 images
    for row in plan.samples[0][:2]:
        arch = plan.truth.archs[row]
        scored = score_arch(plan, 0, arch, plan.proxies, batch)
        for size, suffix in ((32, ""), (8, "@8x8")):
            net = build_network(plan.space, arch, "cifar10", 0).train()
            from swapbench.proxies.registry import ProxyContext

            ctx = ProxyContext(space=plan.space, task="cifar10", seed=0, arch_key=plan.space.canonical_key(arch))
            gaussian_init(net, ctx.generator("swap-init"))
            std, psi = ab.pattern_counts(net, sized_batch(batch[0], size, "crop", 0))
            assert scored[f"swap{suffix}"][0] == psi and scored[f"std_patterns{suffix}"][0] == std
            assert 1 <= std <= 8


# ---------------------------------------------------------------------------------------------
# CLI


def test_cli_input_size_end_to_end(tmp_path, synthetic_data_dir):
    data_dir = synthetic_data_dir
    out, cache = tmp_path / "out", tmp_path / "cache.sqlite"
    args = ["ablation", "input-size", "--n-archs", "4", "--sizes", "3,15,16", "--batch-size", "8", "--threads", "1",
            "--device", "cpu", "--out", str(out), "--cache", str(cache), "--data-dir", str(data_dir)]
    proc = swapbench(*args, "--sizes", "3,8")
    assert proc.returncode == 0, proc.stderr
    assert "computed 20 scores" in proc.stdout and "reused 0" in proc.stdout  # 4 x (Theta + 2 x (|A|, Psi))
    for name in ("scores.csv.gz", "correlations.csv", "summary.csv", "summary.md", "run.json",
                 "figures/spearman_vs_input_size.png", "figures/spearman_vs_input_size.pdf", "figures/scatter.png"):
        assert (out / name).exists(), name
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == 3 * 2 and set(table["metric"]) == {ab.STD, ab.SWAP, ab.REG}
    std = table[table["metric"] == ab.STD]
    assert (std["max"] <= 8).all()  # |A| never exceeds the batch size
    paper = table[(table["metric"] == ab.SWAP) & (table["input_size"] == 3)].iloc[0]
    assert paper["paper_mean"] == pytest.approx(42.94) and paper["paper_spearman"] == pytest.approx(0.86)
    scores = pd.read_csv(out / "scores.csv.gz")
    meta = json.loads((out / "run.json").read_text())
    wide = ab.input_size_scores(scores, meta["ablation"]).pivot_table(
        index=["arch", "input_size"], columns="metric", values="score")
    assert (wide[ab.REG] <= wide[ab.SWAP] + 1e-9).all()
    assert meta["ablation"]["effective_sizes"] == {"3": 3, "8": 8} and meta["kind"] == "ablation-input-size"
    assert "swapbench ablation input-size" in meta["command"]
    assert "15x15" not in (out / "summary.md").read_text()

    again = swapbench(*args, "--sizes", "3,8")
    assert again.returncode == 0 and "computed 0 scores" in again.stdout and "reused 20" in again.stdout
    pd.testing.assert_frame_equal(pd.read_csv(out / "scores.csv.gz"), scores)
    before = pd.read_csv(out / "summary.csv")
    (out / "summary.csv").unlink()
    rendered = swapbench("report", str(out))  # the tables come back from the stored scores alone
    assert rendered.returncode == 0, rendered.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), before)

    odd = swapbench(*args, "--sizes", "15", "--n-archs", "3")  # NB201 rejects 15x15: 16x16 is used
    assert odd.returncode == 0, odd.stderr
    assert "16x16 is used instead" in odd.stderr
    assert pd.read_csv(out / "summary.csv")["effective_size"].tolist() == [16, 16, 16]


def test_cli_regularisation_end_to_end(tmp_path, synthetic_data_dir):
    data_dir = synthetic_data_dir
    out, cache = tmp_path / "reg", tmp_path / "cache.sqlite"
    proc = swapbench("ablation", "regularisation", "--space", "nb201", "--groups", "2", "--group-size", "3",
                     "--batch-size", "8", "--threads", "1", "--device", "cpu", "--out", str(out),
                     "--cache", str(cache), "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    assert "groups of 3 architectures" in proc.stderr and "computed 12 scores" in proc.stdout
    for name in ("scores.csv.gz", "correlations.csv", "summary.csv", "summary.md", "run.json",
                 "figures/model_size_hist.png", "figures/model_size_hist.pdf", "figures/scatter.png"):
        assert (out / name).exists(), name
    meta = json.loads((out / "run.json").read_text())
    scores = ab.regularisation_scores(pd.read_csv(out / "scores.csv.gz"), meta["ablation"]["group_seeds"])
    assert len(scores) == 6 and scores.groupby("group")["arch"].nunique().tolist() == [3, 3]
    assert scores["arch"].nunique() == 6  # the groups are disjoint
    assert scores.groupby("group")["seed"].first().tolist() == [0, 1]
    table = pd.read_csv(out / "summary.csv")
    assert set(table["form"]) == {"paper", "code"}
    assert len(table) == 2 * len(ab.default_grid("nb201", 1.5)[0])
    assert "Table 5" in (out / "summary.md").read_text()
    assert meta["ablation"]["group_size"] == 3 and meta["columns"][0]["archs_per_seed"] == 3

    grid = swapbench("ablation", "regularisation", "--space", "nb201", "--groups", "2", "--group-size", "3",
                     "--batch-size", "8", "--threads", "1", "--device", "cpu", "--out", str(out),
                     "--cache", str(cache), "--data-dir", str(data_dir), "--mus", "0.5,1.5", "--sigmas", "1",
                     "--forms", "code")
    assert grid.returncode == 0 and "computed 0 scores" in grid.stdout and "reused 12" in grid.stdout
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == 1 + 2 and set(table["form"]) == {"code"}


@pytest.mark.parametrize(
    "args, needles",
    [
        (["input-size", "--sizes", "0"], ["--sizes", "positive"]),
        (["input-size", "--sizes", "3,x"], ["bad --sizes"]),
        (["input-size", "--space", "nb999"], ["unknown space 'nb999'"]),
        (["input-size", "--resize", "nearest"], ["--resize"]),
        (["regularisation", "--space", "nb999"], ["unknown space 'nb999'"]),
        (["regularisation", "--space", "nb201", "--forms", "exp"], ["--forms"]),
        (["regularisation", "--space", "nb201", "--mus", "1"], ["--sigmas"]),
    ],
)
def test_cli_bad_input_is_one_line(args, needles, tmp_path, synthetic_data_dir, monkeypatch, capsys):
    """In-process through `main()` (the console entry point), which prints the one-line error."""
    from swapbench.cli import main

    monkeypatch.setattr(sys, "argv", ["swapbench", "ablation", *args, "--out", str(tmp_path / "o"),
                                      "--cache", str(tmp_path / "c.sqlite"), "--data-dir",
                                      str(synthetic_data_dir), "--threads", "1"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    assert exit_info.value.code == 2, captured.err
    lines = [line for line in captured.err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    for needle in needles:
        assert needle in captured.err, captured.err
    assert not (tmp_path / "c.sqlite").exists()


@pytest.mark.slow  # a Python process that imports torch
def test_cli_bad_size_in_a_real_process(tmp_path, synthetic_data_dir):
    proc = swapbench_process("ablation", "input-size", "--sizes", "0", "--out", str(tmp_path / "o"),
                             "--cache", str(tmp_path / "c.sqlite"), "--data-dir", str(synthetic_data_dir))
    assert_one_line_error(proc, "--sizes")
    assert not (tmp_path / "c.sqlite").exists()


def test_smaller_groups_are_prefixes_of_larger_ones():
    big, small = ab.disjoint_groups(1000, 5, 200, seed=0), ab.disjoint_groups(1000, 5, 50, seed=0)
    assert all(b[:50] == s for b, s in zip(big, small, strict=True))
