"""End-to-end runs: output contract, no recomputation, determinism, resume after kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
from conftest import ROOT

ARGS = ["--space", "nb201", "--task", "cifar10", "--seeds", "0-1", "--repeats", "1", "--batch-size", "8",
        "--threads", "1"]


def run(out, *extra, data_dir, wait=True):
    cmd = [sys.executable, "-m", "swapbench.cli", "correlate", *ARGS, "--out", str(out),
           "--cache", str(out / "cache.sqlite"),
           "--data-dir", str(data_dir), *extra]
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_contract_rerun_and_determinism(tmp_path, data_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    first = run(a, "--n-archs", "6", data_dir=data_dir)
    assert "computed 24 scores, reused 0" in first.stdout
    scores = pd.read_csv(a / "scores.csv.gz")
    assert list(scores.columns) == ["space", "task", "seed", "arch", "proxy", "score", "accuracy"]
    assert len(scores) == 6 * 2 * 2
    assert scores["arch"].str.startswith("(").all()  # keys exactly as in zc_nasbench201.json
    corr = pd.read_csv(a / "correlations.csv")
    assert list(corr.columns) == ["space", "task", "proxy", "seed", "n", "spearman", "spearman_lo", "spearman_hi",
                                  "kendall", "kendall_lo", "kendall_hi"]
    summary = pd.read_csv(a / "summary.csv")
    assert list(summary.columns)[:13] == ["space", "task", "proxy", "n", "seeds", "spearman_mean", "spearman_std",
                                          "spearman_lo", "spearman_hi", "kendall_mean", "kendall_std", "kendall_lo",
                                          "kendall_hi"]
    finite = summary.dropna(subset=["spearman_mean"])
    assert len(finite) and (finite["spearman_lo"] <= finite["spearman_mean"]).all()
    assert (a / "summary.md").exists() and (a / "run.json").exists()
    # reg_swap = swap x f(theta) <= swap, with the same Psi
    wide = scores.pivot_table(index=["seed", "arch"], columns="proxy", values="score")
    assert (wide["reg_swap"] <= wide["swap"]).all() and (wide["reg_swap"] > 0).all()

    again = run(a, "--n-archs", "6", data_dir=data_dir)
    assert "computed 0 scores, reused 24" in again.stdout
    pd.testing.assert_frame_equal(pd.read_csv(a / "scores.csv.gz"), scores)

    run(b, "--n-archs", "6", data_dir=data_dir)  # separate cache: same numbers
    pd.testing.assert_frame_equal(pd.read_csv(b / "scores.csv.gz"), scores)


def test_resume_after_kill(tmp_path, data_dir):
    full, killed = tmp_path / "full", tmp_path / "killed"
    n = ["--n-archs", "14"]
    proc = run(killed, *n, data_dir=data_dir, wait=False)
    db = killed / "cache.sqlite"
    deadline = time.time() + 240
    rows = 0
    while time.time() < deadline and rows < 6:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db) as con:
                    rows = con.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 6 <= rows < 14 * 2 * 2, "the run should be killed part-way"
    assert not (killed / "summary.csv").exists()
    resumed = run(killed, *n, data_dir=data_dir)
    assert "reused" in resumed.stdout and "reused 0 " not in resumed.stdout
    run(full, *n, data_dir=data_dir)
    assert (killed / "summary.csv").read_text() == (full / "summary.csv").read_text()
    pd.testing.assert_frame_equal(pd.read_csv(killed / "scores.csv.gz"), pd.read_csv(full / "scores.csv.gz"))


def test_keys_of_metrics_that_ignore_the_images_do_not_depend_on_the_rest_of_the_run(data_dir):
    """params/flops/synflow/l2_norm/zen scores are shared between runs whatever other metrics they hold."""
    from swapbench.study.config import CorrelateConfig
    from swapbench.study.runner import plan_run

    def keys(proxies: list[str], task: str = "cifar10") -> dict[str, str]:
        return plan_run(CorrelateConfig(space="nb201", task=task, proxies=proxies, n_archs=5, seeds=[0],
                                        data_dir=str(data_dir))).keys

    alone = keys(["params", "flops", "synflow", "l2_norm", "zen"])
    mixed = keys(["params", "flops", "synflow", "l2_norm", "zen", "swap"])
    assert all(alone[m] == mixed[m] for m in alone)
    # a metric that reads the images is keyed by them: another task's images, another key
    assert keys(["swap"])["swap"] == mixed["swap"] != keys(["swap"], "cifar100")["swap"]
