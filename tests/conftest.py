"""Shared fixtures: the data dir (../shared/data or $SWAPBENCH_DATA) and small helpers."""

from __future__ import annotations

import os
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
    path = find_data_dir()
    if path is None:
        pytest.skip("benchmark data dir not found (set SWAPBENCH_DATA)")
    return path


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
