"""The public Python API: the same numbers as the command line, the run-directory contract, re-rendering."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

import swapbench
import swapbench.api
from swapbench.errors import SwapbenchError

CONTRACT = {"run.json", "scores.csv.gz", "correlations.csv", "summary.csv", "summary.md"}
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|avg_pool_3x3~2|"


def test_build_network_is_seeded_by_seed_and_arch():
    a = swapbench.build_network("nb201", ARCH, "cifar10", seed=0)
    b = swapbench.build_network("nb201", ARCH, "cifar10", seed=0)
    c = swapbench.build_network("nb201", ARCH, "cifar10", seed=1)
    wa, wb, wc = (next(n.parameters()) for n in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert a(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(SwapbenchError, match="unknown space"):
        swapbench.build_network("nb999", ARCH, "cifar10")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, synthetic_data_dir):
    data_dir = synthetic_data_dir
    out = tmp_path_factory.mktemp("api")
    torch.set_num_threads(1)
    result = swapbench.correlate("nb201", "cifar10", ["swap", "params"], n_archs=5, seeds=[0], batch_size=8,
                                 data_dir=str(data_dir), cache=str(out / "cache.sqlite"), out=out / "run")
    return result, out


def test_correlate_returns_frames_and_writes_the_contract(small_run):
    result, out = small_run
    assert len(result.scores) == 5 * 2 and set(result.scores["proxy"]) == {"swap", "params"}
    assert list(result.summary["proxy"]) == ["swap", "params"] and result.computed == 10
    files = {p.name for p in (out / "run").iterdir() if p.is_file()}
    assert CONTRACT <= files
    figures = {p.name for p in (out / "run" / "figures").iterdir()}
    assert {"scatter-nb201-cifar10.png", "heatmap.png"} <= figures
    meta = json.loads((out / "run" / "run.json").read_text())
    assert meta["kind"] == "correlate" and meta["columns"][0]["batch_size"] == 8


def test_score_gives_what_the_run_cached(small_run, synthetic_data_dir):
    data_dir = synthetic_data_dir
    result, _ = small_run
    row = result.scores[result.scores["proxy"] == "swap"].iloc[0]
    scores = swapbench.score("nb201", row["arch"], "cifar10", ["swap", "params"], seed=0, batch_size=8,
                             data_dir=str(data_dir))
    assert scores["swap"].value == row["score"] and scores["swap"].seconds > 0
    params = result.scores[(result.scores["proxy"] == "params") & (result.scores["arch"] == row["arch"])]
    assert scores["params"].value == pytest.approx(params["score"].iloc[0], rel=1e-6)


def test_report_rerenders_from_scores_alone(small_run):
    _, out = small_run
    run = out / "run"
    before = pd.read_csv(run / "summary.csv")
    for name in ("summary.csv", "summary.md", "correlations.csv"):
        (run / name).unlink()
    info = swapbench.rerender(run)
    assert info["kind"] == "correlate"
    pd.testing.assert_frame_equal(pd.read_csv(run / "summary.csv"), before)
    assert (run / "summary.md").is_file() and (run / "correlations.csv").is_file()
    with pytest.raises(SwapbenchError, match="not a run directory"):
        swapbench.rerender(run / "figures")
    assert swapbench.rerender(out)["kind"] == "1 run(s)"  # a directory of runs: each of them


def test_study_and_correlate_write_the_same_files(small_run, tmp_path, synthetic_data_dir):
    data_dir = synthetic_data_dir
    _, out = small_run
    config = tmp_path / "one.toml"
    config.write_text('name = "one"\nproxies = ["swap", "params"]\nseeds = [0]\nn_archs = 5\n'
                      '[[columns]]\nspace = "nb201"\ntask = "cifar10"\nbatch_size = 8\n')
    result = swapbench.study(config, data_dir=str(data_dir), cache=str(out / "cache.sqlite"), out=tmp_path / "s")
    assert result.computed == 0  # every score came from the correlate run's cache
    listing = {p.relative_to(tmp_path / "s").as_posix() for p in (tmp_path / "s").rglob("*") if p.is_file()}
    assert listing == {p.relative_to(out / "run").as_posix() for p in (out / "run").rglob("*") if p.is_file()}
    keys = ["space", "task", "proxy", "spearman_mean"]
    pd.testing.assert_frame_equal(result.summary[keys], pd.read_csv(out / "run" / "summary.csv")[keys])


def test_bad_input_fails_before_work(tmp_path):
    with pytest.raises(SwapbenchError, match="at least 3"):
        swapbench.correlate("nb201", "cifar10", ["swap"], n_archs=2, cache=str(tmp_path / "c.sqlite"))
    with pytest.raises(SwapbenchError, match="unknown proxy"):
        swapbench.correlate("nb201", "cifar10", ["swapp"], cache=str(tmp_path / "c.sqlite"))
    assert not (tmp_path / "c.sqlite").exists()


@pytest.mark.slow
def test_the_readme_example_runs(tmp_path, synthetic_data_dir):
    data_dir = synthetic_data_dir
    import os
    import subprocess
    import sys

    from conftest import ROOT

    env = dict(os.environ, SWAPBENCH_DATA=str(data_dir), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "python_api.py"), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "parameters" in proc.stdout and "'swap'" in proc.stdout and "reg_swap" in proc.stdout
    assert CONTRACT <= {p.name for p in (tmp_path / "run").iterdir()}


@pytest.mark.slow
def test_validate_compares_with_the_stored_scores(tmp_path, data_dir):
    result, table = swapbench.api.validate("nb201", "cifar10", ["params", "flops"], n_archs=6, data_dir=str(data_dir),
                                           cache=str(tmp_path / "c.sqlite"), out=tmp_path / "v")
    assert list(table["metric"]) == ["params", "flops"] and set(table["n"]) == {6}
    # parameter and FLOP counts are deterministic: our ranking is the stored one
    assert (table["spearman_ours_stored"] > 0.99).all()
    files = {p.name for p in (tmp_path / "v").iterdir()}
    assert {"validation.csv", "validation.md", "stored.csv.gz"} | CONTRACT <= files
    (tmp_path / "v" / "validation.csv").unlink()
    swapbench.rerender(tmp_path / "v")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "v" / "validation.csv"), table, check_exact=False, atol=1e-4,
                                  check_dtype=False)
    with pytest.raises(SwapbenchError, match="no stored scores for swap"):
        swapbench.api.validate("nb201", "cifar10", ["swap"], data_dir=str(data_dir), cache=str(tmp_path / "c.sqlite"))


def test_workers_per_gpu(monkeypatch):
    from swapbench.api import execution

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    options = execution(workers_per_gpu=3)
    assert options.backend == "process" and options.resolved_workers("cuda") == 6  # 3 on each of 2 GPUs
    assert execution(workers=4, workers_per_gpu=3).resolved_workers("cuda") == 4  # --workers wins
    with pytest.raises(SwapbenchError, match="needs --device cuda"):
        options.resolved_workers("cpu")
    with pytest.raises(SwapbenchError, match="needs worker processes"):
        execution(backend="local", workers_per_gpu=2)


def test_validate_on_a_table_with_stored_scores(tmp_path, synthetic_data_dir):
    """The synthetic table stores random metric values: the comparison is made, on the sampled archs."""
    result, table = swapbench.api.validate("nb201", "cifar10", ["params"], n_archs=5,
                                           data_dir=str(synthetic_data_dir), cache=str(tmp_path / "c.sqlite"))
    assert list(table["metric"]) == ["params"] and int(table["n"].iloc[0]) == 5
    assert result.meta["kind"] == "validate"
    assert -1 <= table["spearman_ours_stored"].iloc[0] <= 1


def test_stored_scores_keep_every_digit(tmp_path):
    """Re-rendering reads scores.csv.gz: rounding there would break or make ties and move a Spearman."""
    from swapbench.report.run import write_scores

    frame = pd.DataFrame({"score": [1 / 3, 2 / 3 + 1e-12, 1e-300, 123456789.123456789],
                          "accuracy": [15.433333333333334, 15.433333333333337, 40.6, 91.0]})
    write_scores(frame, tmp_path / "scores.csv.gz")
    back = pd.read_csv(tmp_path / "scores.csv.gz")
    assert (back.to_numpy() == frame.to_numpy()).all()
