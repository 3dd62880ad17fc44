"""Exit codes of the console entry point `main()`: usage errors exit 2 in one line, a regression exits 1 (both
in this process), Ctrl-C 130 and SIGTERM 143 with the cache intact (real processes, signalled)."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import ROOT
from test_cli import assert_clean_error, swapbench

pytestmark = pytest.mark.usefixtures("one_thread", "quick_bootstrap")


def test_misspelled_option_names_the_fix():
    proc = swapbench("correlate", "--space", "nb201", "--task", "cifar10", "--n-arch", "5")
    assert_clean_error(proc, "No such option: --n-arch", "--n-archs", "swapbench correlate --help")


def test_unknown_command():
    assert_clean_error(swapbench("corelate"), "No such command", "corelate")


def test_bare_command_shows_help_and_exits_2():
    proc = swapbench()
    assert proc.returncode == 2
    assert "correlate" in proc.stdout and "Traceback" not in proc.stderr


NUMERIC = [
    ("correlate", "--n-archs", "abc"), ("correlate", "--n-archs", "2.5"), ("correlate", "--batch-size", "0"),
    ("correlate", "--batch-size", "x"), ("correlate", "--repeats", "0"), ("correlate", "--threads", "-2"),
    ("correlate", "--workers", "0"), ("correlate", "--seeds", "-1"), ("correlate", "--seeds", "0-99999999"),
    ("correlate", "--seeds", "3-1"), ("correlate", "--seeds", "0,0"), ("correlate", "--option", "swap.repeats=abc"),
    ("correlate", "--option", "swap.repeats=0"), ("correlate", "--option", "reg_swap.mu=x"),
    ("correlate", "--option", "reg_swap.form=printed"),
    ("study", "--limit-archs", "1"), ("study", "--threads", "0"), ("study", "--workers", "-1"),
    ("study", "--seeds", "-3"),
    ("regress", "--tolerance", "-0.1"), ("regress", "--threads", "abc"),
    ("ablation input-size", "--n-archs", "1"), ("ablation input-size", "--seed", "-1"),
    ("ablation input-size", "--repeats", "0"), ("ablation regularisation", "--groups", "0"),
    ("ablation regularisation", "--group-size", "2"), ("lswag-band", "--n-networks", "1"),
]


@pytest.mark.parametrize("command, option, value", NUMERIC)
def test_bad_numbers_are_one_line(command, option, value, tmp_path, synthetic_data_dir):
    args = [*command.split(), "--data-dir", str(synthetic_data_dir)]  # a usable data dir: only the number is wrong
    if command in ("correlate", "ablation regularisation", "lswag-band"):
        args += ["--space", "nb201", "--task", "cifar10"]
    args += {"study": [str(ROOT / "configs" / "ci.toml")], "regress": [str(ROOT / "results" / "ci")]}.get(command, [])
    if command != "lswag-band":
        args += ["--out", str(tmp_path / "out")]
    proc = swapbench(*args, f"{option}={value}")
    assert_clean_error(proc, value.split("=")[0] if option == "--option" else option)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# regress: exit 1 when a stored cell moved, 0 when none did


@pytest.fixture(scope="module")
def stored_study(tmp_path_factory, synthetic_data_dir, quick_bootstrap):
    """A tiny stored study (data-independent metrics, so the rerun is seconds)."""
    where = tmp_path_factory.mktemp("study")
    config = where / "tiny.toml"
    config.write_text('name = "tiny"\nproxies = ["params", "flops"]\nseeds = [0]\nn_archs = 8\n\n'
                      '[[columns]]\nspace = "nb201"\ntask = "cifar10"\n')
    proc = swapbench("study", str(config), "--out", str(where / "stored"), "--cache", str(where / "c.sqlite"),
                     "--threads", "1", "--data-dir", str(synthetic_data_dir))
    assert proc.returncode == 0, proc.stderr
    return where / "stored"


def test_regress_passes_on_an_unchanged_study(stored_study, synthetic_data_dir):
    proc = swapbench("regress", str(stored_study), "--threads", "1", "--data-dir", str(synthetic_data_dir))
    assert proc.returncode == 0, proc.stderr
    assert "regression passed" in proc.stdout


def test_regress_fails_with_exit_1_on_an_edited_cell(stored_study, synthetic_data_dir, tmp_path):
    import shutil

    edited = tmp_path / "edited"
    shutil.copytree(stored_study, edited)
    summary = pd.read_csv(edited / "summary.csv")
    summary.loc[0, "spearman_mean"] += 0.5
    summary.to_csv(edited / "summary.csv", index=False)
    proc = swapbench("regress", str(edited), "--threads", "1", "--data-dir", str(synthetic_data_dir))
    assert proc.returncode == 1, proc.stderr
    assert "regression: 1 of 2 cells" in proc.stderr


# ---------------------------------------------------------------------------------------------
# signals: the run stops with 130 (SIGINT) / 143 (SIGTERM), says so in one line, keeps every score


def _cache_count(path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
    except sqlite3.Error:
        return 0


def _cached_archs(path) -> set[str]:
    if not path.exists():
        return set()
    try:
        with sqlite3.connect(path, timeout=1) as db:
            return {row[0] for row in db.execute("SELECT arch FROM scores")}
    except sqlite3.Error:
        return set()


def _first_archs(data_dir, n: int) -> set[str]:
    """The architectures a `--n-archs n --seeds 0` run of nb201/cifar10 scores (as the cache names them)."""
    from swapbench.study.config import CorrelateConfig
    from swapbench.study.runner import plan_run

    plan = plan_run(CorrelateConfig(space="nb201", task="cifar10", proxies=["swap"], n_archs=n, seeds=[0],
                                    batch_size=16, data_dir=str(data_dir)))
    return {plan.space.canonical_key(plan.truth.archs[row]) for row in plan.samples[0]}


def _start_run(tmp_path, data_dir, extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, list[str]]:
    """Start a 300-arch correlate run and return once the first 3 sampled architectures are in its cache: with
    --workers, chunks of the sample are scored side by side and finish in any order, so a later chunk may be
    stored first."""
    cache = tmp_path / "cache.sqlite"
    first = _first_archs(data_dir, 3)
    args = ["correlate", "--space", "nb201", "--task", "cifar10", "--proxies", "swap", "--n-archs", "300",
            "--seeds", "0", "--batch-size", "16", "--threads", "1", "--out", str(tmp_path / "out"),
            "--cache", str(cache), "--data-dir", str(data_dir), *extra]
    proc = subprocess.Popen([sys.executable, "-m", "swapbench.cli", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ), start_new_session=True)
    deadline = time.monotonic() + 240
    while not first <= _cached_archs(cache) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    return proc, args


def _session_left(proc: subprocess.Popen, seconds: float = 15) -> list[str]:
    """Processes of the run's session still alive after up to `seconds` (multiprocessing's resource tracker
    leaves just after the parent)."""
    deadline, leftover = time.monotonic() + seconds, ["?"]
    while leftover and time.monotonic() < deadline:
        time.sleep(0.5)
        leftover = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
    return leftover


def _interrupt_run(tmp_path, data_dir, sig: int, extra: tuple[str, ...] = ()
                   ) -> tuple[subprocess.Popen, str, int, list[str]]:
    proc, args = _start_run(tmp_path, data_dir, extra)
    os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=120)
    return proc, stderr, _cache_count(tmp_path / "cache.sqlite"), args


def _first_three(args: list[str]) -> list[str]:
    """The same run over the first 3 archs of its sample (which are the 3-arch sample)."""
    return [a if a != "300" else "3" for a in args]


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, extra", [(signal.SIGINT, 130, ()),
                                              (signal.SIGTERM, 143, ("--workers", "2"))])
def test_signal_keeps_scores_and_resumes(sig, code, extra, tmp_path, synthetic_data_dir):
    data_dir = synthetic_data_dir
    proc, stderr, kept, args = _interrupt_run(tmp_path, data_dir, sig, extra)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert "error: interrupted;" in stderr and "re-run" in stderr
    assert kept >= 3
    if extra:  # no worker outlives the run
        assert _session_left(proc) == []
    # the first 3 of the 300-arch sample are the 3-arch sample: a re-run with --n-archs 3 reuses them all
    again = swapbench(*_first_three(args))
    assert again.returncode == 0, again.stderr
    done = re.search(r"computed (\d+) scores, reused (\d+) from the cache", again.stdout)
    # one process scores in sample order; parallel workers may have finished a later chunk first
    assert done and int(done[1]) + int(done[2]) == 3 and (int(done[2]) == 3 or extra)
    assert int(done[2]) >= 1 or kept < 4


@pytest.mark.slow
def test_worker_killed_halves_the_pool_then_exits_3_and_resumes(tmp_path, synthetic_data_dir):
    """A worker process killed from outside (as the OS kills one out of memory): the run goes on with half the
    workers and says so; a worker lost at one worker ends it with exit 3 and one line that names the column and
    says how to resume, no worker left behind, every score handed back before kept."""
    cache = tmp_path / "cache.sqlite"
    proc, args = _start_run(tmp_path, synthetic_data_dir, ("--workers", "2"))
    workers = _workers(proc)
    assert len(workers) == 2
    os.kill(int(workers[0]), signal.SIGKILL)
    # a fresh pool of one worker takes over and keeps adding scores
    deadline = time.monotonic() + 120
    while not set(_workers(proc)) - set(workers) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    at_loss = _cache_count(cache)
    while _cache_count(cache) <= at_loss and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    (last,) = set(_workers(proc)) - set(workers)
    os.kill(int(last), signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr
    assert "a worker process died while scoring nb201/cifar10 seed 0" in stderr and "going on with 1 worker," in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in stderr and len(errors) == 1 and stderr.strip().splitlines()[-1] == errors[0]
    assert errors[0].startswith("error: a worker process died while scoring nb201/cifar10 seed 0")
    assert "fewer --workers" in stderr and "re-run the same command to resume" in stderr
    assert _session_left(proc) == []  # no worker outlives the run
    kept = _cache_count(cache)
    assert kept > at_loss >= 3
    again = swapbench(*_first_three(args))
    assert again.returncode == 0, again.stderr
    assert re.search(r"computed (\d+) scores, reused (\d+) from the cache", again.stdout)


def _workers(proc: subprocess.Popen) -> list[str]:
    """The run's live worker processes."""
    return subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "spawn_main"], capture_output=True,
                          text=True).stdout.split()
