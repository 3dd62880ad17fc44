"""Shared fixtures: the real data dir (../shared/data or $SWAPBENCH_DATA), a synthetic one built once per run,
one torch thread, quick bootstrap intervals; `run_main`, the CLI run in this process; and `every_metric`, each
registered metric on one network and batch."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def find_data_dir() -> Path | None:
    for candidate in (os.environ.get("SWAPBENCH_DATA"), ROOT.parent / "shared" / "data"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real benchmark data (published tables, real images); skips when absent."""
    path = find_data_dir()
    if path is None:
        pytest.skip("benchmark data dir not found (set SWAPBENCH_DATA)")
    return path


@pytest.fixture(scope="session")
def synthetic_data_dir(tmp_path_factory) -> Path:
    """A small data dir in the real on-disk formats, made-up accuracies and random images (tests/synthetic.py)."""
    from synthetic import build_data_dir

    return build_data_dir(tmp_path_factory.mktemp("synthetic-data"))


@pytest.fixture(scope="session", params=["synthetic", pytest.param("real", marks=pytest.mark.slow)])
def any_data_dir(request) -> Path:
    """Each test that uses it runs on the synthetic data dir, and (marked slow) on the real one."""
    return request.getfixturevalue("synthetic_data_dir" if request.param == "synthetic" else "data_dir")


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's torch work on one thread (several threads on a busy 2-core machine spin-wait)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def _private_default_cache(tmp_path_factory):
    """Commands run without --cache use the shared default cache: point it (and every subprocess's) at a
    temporary file, never at runs/ of the checkout."""
    path = tmp_path_factory.mktemp("default-cache") / "cache.sqlite"
    before = os.environ.get("SWAPBENCH_CACHE")
    os.environ["SWAPBENCH_CACHE"] = str(path)
    yield path
    if before is None:
        os.environ.pop("SWAPBENCH_CACHE", None)
    else:
        os.environ["SWAPBENCH_CACHE"] = before


QUICK_RESAMPLES = 100


@pytest.fixture(scope="module")
def quick_bootstrap():
    """`correlate`, `study` and `regress` runs in this process draw QUICK_RESAMPLES bootstrap resamples for the
    correlation intervals instead of 1000 (a scipy Kendall tau per resample is most of a tiny run's time). The
    end-to-end tests check that the intervals are written and ordered; test_protocols.py tests the bootstrap."""
    from functools import partial

    from swapbench.study import runner

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "correlation_table", partial(runner.correlation_table, resamples=QUICK_RESAMPLES))
        yield


def run_main(argv: list[str], env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess:
    """`swapbench ARGV` in this process: `swapbench.cli.main` (the console entry point, which always ends in
    sys.exit) with its stdout and stderr captured, as a CompletedProcess. `env` sets (None: removes) environment
    variables for the call; sys.argv is what a console script sees (run.json records it). What main changes in
    the process (signal handlers, torch threads, environment, working directory, sys.argv) is put back afterwards."""
    import torch

    from swapbench import cli

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    threads = torch.get_num_threads()
    environ, cwd, sys_argv = dict(os.environ), os.getcwd(), sys.argv
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    try:
        for name, value in (env or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        os.chdir(ROOT)
        sys.argv = ["swapbench", *map(str, argv)]
        with redirect_stdout(out), redirect_stderr(err):
            try:
                cli.main([str(a) for a in argv])
            except SystemExit as exc:
                code = exc.code
    finally:
        sys.argv = sys_argv
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environ)
        torch.set_num_threads(threads)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        cli._received.clear()
    returncode = code if isinstance(code, int) else (0 if code is None else 1)
    return subprocess.CompletedProcess(["swapbench", *argv], returncode, out.getvalue(), err.getvalue())


# every metric at its defaults, except the repeat counts, kept small so a grid stays cheap
SMALL_OVERRIDES = {"swap": {"repeats": 1}, "reg_swap": {"repeats": 1}}
# lswag's layer band is chosen per (space, task) by `swapbench lswag-band`; where none is stored, any band
# exercises the code path
FALLBACK_BAND = {"p_lo": 5, "p_hi": 9}


def every_metric(space, task: str, arch, net, x, y) -> dict[str, float]:
    """Each registered metric on (net, x, y) through the harness, one shared memo, as a run scores an arch."""
    from swapbench.proxies.priors import read_bands
    from swapbench.proxies.registry import ProxyContext, get_proxy, list_proxies, run_proxy

    memo: dict = {}
    values = {}
    for name in list_proxies():
        spec = get_proxy(name)
        overrides = dict(SMALL_OVERRIDES.get(name, {}))
        if name == "lswag" and task not in read_bands().get(space.name, {}):
            overrides.update(FALLBACK_BAND)
        ctx = ProxyContext(space=space, task=task, seed=0, arch_key=space.canonical_key(arch),
                           options=spec.resolve_options(overrides), memo=memo)
        values[name] = run_proxy(spec, net, x, y, space.loss_fn(task), ctx)
    return values
