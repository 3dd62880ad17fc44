"""A committed run resumes elsewhere: `swapbench cache import` puts its stored scores back into a score
cache under the keys the run used, so a rerun with that cache computes nothing and gives the same tables."""

from __future__ import annotations

import gzip
import json
import sqlite3

import pandas as pd
import pytest
import torch

import swapbench
from swapbench.errors import SwapbenchError
from swapbench.spaces import get_space
from tests.conftest import run_main


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory, synthetic_data_dir):
    out = tmp_path_factory.mktemp("stored")
    torch.set_num_threads(1)
    swapbench.correlate("nb201", "cifar10", ["swap", "params", "zen"], n_archs=5, seeds=[0, 1], batch_size=8,
                        data_dir=str(synthetic_data_dir), cache=str(out / "first.sqlite"), out=out / "run")
    return out / "run"


def _cached(path) -> dict[tuple, float]:
    with sqlite3.connect(path) as db:
        return {(k, s, a): v for k, s, a, v in db.execute("SELECT key, seed, arch, score FROM scores")}


def test_imported_scores_equal_the_computed_ones_and_a_rerun_computes_nothing(stored_run, tmp_path,
                                                                                synthetic_data_dir):
    fresh = tmp_path / "fresh.sqlite"
    path, imported = swapbench.import_scores([stored_run], cache=str(fresh))
    assert path == fresh and imported[0].rows == 5 * 2 * 3 and imported[0].added == 30
    assert _cached(fresh) == _cached(stored_run.parent / "first.sqlite")  # same keys, seeds, archs, every digit
    again = swapbench.correlate("nb201", "cifar10", ["swap", "params", "zen"], n_archs=5, seeds=[0, 1],
                                batch_size=8, data_dir=str(synthetic_data_dir), cache=str(fresh))
    assert again.computed == 0
    pd.testing.assert_frame_equal(again.summary, pd.read_csv(stored_run / "summary.csv"), check_dtype=False)
    # a second import adds nothing and keeps what the cache holds
    assert swapbench.import_scores([stored_run], cache=str(fresh))[1][0].added == 0


def test_architectures_named_otherwise_by_the_table_are_rekeyed(tmp_path, synthetic_data_dir):
    # the NB101 table names networks by raw 7-vertex specs, the cache by the pruned spec: an import that kept
    # the table's names would add rows that no run ever looks up
    first, fresh = tmp_path / "first.sqlite", tmp_path / "fresh.sqlite"
    run = dict(n_archs=6, seeds=[0], batch_size=8, data_dir=str(synthetic_data_dir))
    swapbench.correlate("nb101", "cifar10", ["params"], cache=str(first), out=tmp_path / "run", **run)
    stored = pd.read_csv(tmp_path / "run" / "scores.csv.gz", dtype={"arch": str})
    space = get_space("nb101")
    assert any(space.canonical_key(space.parse(a)) != a for a in stored.arch)  # the case this test is about
    swapbench.import_scores([tmp_path / "run"], cache=str(fresh))
    assert _cached(fresh) == _cached(first)
    assert swapbench.correlate("nb101", "cifar10", ["params"], cache=str(fresh), **run).computed == 0


def test_a_score_the_cache_holds_is_not_replaced(stored_run, tmp_path):
    cache = tmp_path / "c.sqlite"
    swapbench.import_scores([stored_run], cache=str(cache))
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE scores SET score = 7.0")
    assert swapbench.import_scores([stored_run], cache=str(cache))[1][0].added == 0
    assert set(_cached(cache).values()) == {7.0}


def test_not_applicable_scores_survive_the_round_trip(stored_run, tmp_path):
    # a NaN score (metric not applicable) is stored as an empty field and must come back as NaN, not be lost
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text((stored_run / "run.json").read_text())
    scores = pd.read_csv(stored_run / "scores.csv.gz")
    scores.loc[0, "score"] = float("nan")
    with gzip.open(run / "scores.csv.gz", "wt") as fh:
        scores.to_csv(fh, index=False)
    cache = tmp_path / "c.sqlite"
    swapbench.import_scores([run], cache=str(cache))
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM scores WHERE score = 'nan'").fetchone()[0] == 1


def test_cli_imports_and_reports_what_it_skipped(stored_run, tmp_path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "run.json").write_text(json.dumps({"config": {}}))
    cache = tmp_path / "c.sqlite"
    done = run_main(["cache", "import", stored_run, legacy, "--cache", cache])
    assert done.returncode == 0, done.stderr
    assert f"{stored_run}: 30 scores, 30 new" in done.stdout and "30 scores added" in done.stdout
    assert "not a stored run with scores" in done.stderr
    bad = run_main(["cache", "import", tmp_path / "nowhere", "--cache", cache])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "is not a directory" in bad.stderr
    with pytest.raises(SwapbenchError, match="no run directory"):
        swapbench.import_scores([], cache=str(cache))
