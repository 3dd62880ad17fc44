"""Bad input: one line on stderr naming the problem, exit code 2, no traceback, cache untouched."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from conftest import ROOT


def swapbench(*args: str, env_data: str | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ)
    if env_data is not None:
        env["SWAPBENCH_DATA"] = env_data
    return subprocess.run([sys.executable, "-m", "swapbench.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


TINY = ["--n-archs", "4", "--seeds", "0", "--repeats", "1", "--batch-size", "8", "--threads", "1"]


@pytest.fixture(scope="module")
def populated(tmp_path_factory, data_dir):
    """A finished small run whose cache the bad-input cases must leave intact."""
    out = tmp_path_factory.mktemp("run")
    proc = swapbench("correlate", "--space", "nb201", "--task", "cifar10", *TINY, "--out", str(out),
                     "--cache", str(out / "cache.sqlite"), "--data-dir", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    return out


def cache_rows(out) -> int:
    with sqlite3.connect(out / "cache.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--space", "nb999", "--task", "cifar10"], ["unknown space 'nb999'", "nb201"]),
        (["--space", "nb201", "--task", "mnist"], ["no task 'mnist'", "cifar100"]),
        (["--space", "nb201", "--task", "cifar10", "--proxies", "swap,magic"], ["unknown proxy 'magic'"]),
        (["--space", "nb201", "--task", "cifar10", "--n-archs", "2"], ["--n-archs", "greater than or equal to 3"]),
        (["--space", "nb201", "--task", "cifar10", "--seeds", "a-b"], ["--seeds"]),
        (["--space", "nb201", "--task", "cifar10", "--batch-policy", "odd"], ["batch policy"]),
        (["--space", "nb201", "--task", "cifar10", "--option", "swap.nope=1"], ["no option 'nope'"]),
        (["--space", "nb201", "--task", "cifar10", "--truth", "nonexistent"], ["unknown truth"]),
    ],
)
def test_bad_arguments(args, needles, populated, data_dir):
    before = cache_rows(populated)
    proc = swapbench("correlate", *args, "--out", str(populated), "--data-dir", str(data_dir))
    assert_clean_error(proc, *needles)
    assert cache_rows(populated) == before


def test_missing_data_dir(tmp_path):
    proc = swapbench("correlate", "--space", "nb201", "--task", "cifar10", "--data-dir", str(tmp_path / "no"))
    assert_clean_error(proc, "does not exist", "--data-dir")


def test_missing_table(tmp_path):
    proc = swapbench("correlate", "--space", "nb201", "--task", "cifar10", "--data-dir", str(tmp_path))
    assert_clean_error(proc, "zc_nasbench201.json", "missing")


def test_corrupt_json(tmp_path, populated):
    folder = tmp_path / "nas-bench-suite-zero"
    folder.mkdir()
    (folder / "zc_nasbench201.json").write_text('{"cifar10": {"(0, 1')
    before = cache_rows(populated)
    proc = swapbench("correlate", "--space", "nb201", "--task", "cifar10", "--data-dir", str(tmp_path),
                     "--out", str(populated))
    assert_clean_error(proc, "not valid JSON")
    assert cache_rows(populated) == before


def test_malformed_encoding_in_user_csv(tmp_path, data_dir, populated):
    csv = tmp_path / "t.csv"
    csv.write_text('arch,acc\n"(0, 1, 2)",1\n')
    proc = swapbench("correlate", "--space", "nb201", "--task", "cifar10", "--truth", str(csv),
                     "--arch-column", "arch", "--acc-column", "acc", "--data-dir", str(data_dir),
                     "--out", str(populated))
    assert_clean_error(proc, "malformed NB201 encoding", "t.csv")


def test_unknown_cuda_is_clean(data_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    proc = swapbench("correlate", "--space", "nb201", "--task", "cifar10", "--device", "cuda",
                     "--data-dir", str(data_dir))
    assert_clean_error(proc, "no CUDA GPU")


def test_data_fetch_offline_fails_in_one_line(tmp_path):
    proc = swapbench("data", "fetch", "--data-dir", str(tmp_path))
    assert_clean_error(proc)


def test_listings(data_dir):
    proc = swapbench("proxies")
    assert proc.returncode == 0 and "reg_swap" in proc.stdout
    proc = swapbench("data", "status", "--data-dir", str(data_dir))
    assert proc.returncode == 0 and "YES" in proc.stdout  # the ImageNet16 substitute is flagged
    proc = swapbench("spaces")
    assert proc.returncode == 0 and "ImageNet16-120" in proc.stdout


def test_run_json_records_policy_and_sources(populated):
    meta = json.loads((populated / "run.json").read_text())
    column = meta["columns"][0]
    assert column["batch_policy"] == "fixed" and column["batch_size"] == 8
    assert column["truth"]["name"] == "nbsz"
    assert column["images"]["substitute"] is False
    assert column["proxy_options"]["swap"]["repeats"] == 1
    assert meta["kind"] == "correlate" and meta["study"]["columns"][0]["space"] == "nb201"
