"""Checks that run before any work: truth tables (duplicates, missing and constant accuracies), metric
options, seeds, score caches that are not ours, output locations; and nested samples."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from test_data import fake_data_dir

from swapbench.data.benchmarks import load_json, load_truth
from swapbench.errors import DataError, StorageError, SwapbenchError
from swapbench.proxies import get_proxy
from swapbench.spaces import get_space
from swapbench.study.cache import ScoreCache, storage_error
from swapbench.study.runner import writable_dir
from swapbench.study.sampling import sample_indices

NB201 = get_space("nb201")
A, B, C, D = "(0, 2, 3, 2, 3, 1)", "(2, 2, 2, 2, 2, 2)", "(3, 3, 3, 3, 3, 3)", "(4, 4, 4, 4, 4, 4)"
A_STR = "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"  # = A


def user_csv(tmp_path, rows: list[tuple[str, str]]):
    path = tmp_path / "truth.csv"
    path.write_text("arch,acc\n" + "".join(f'"{a}",{v}\n' for a, v in rows))
    return load_truth(NB201, "cifar10", tmp_path, str(path), "arch", "acc")


def test_conflicting_duplicates_in_a_user_table_are_refused_by_name(tmp_path):
    # the same architecture in two encodings, with two accuracies
    with pytest.raises(DataError, match=r"1 architecture\(s\) occur more than once.*skip_connect~0.*91"):
        user_csv(tmp_path, [(A, "90"), (B, "80"), (C, "70"), (A_STR, "91")])


def test_identical_duplicates_are_merged_with_a_notice(tmp_path):
    truth = user_csv(tmp_path, [(A, "90"), (B, "80"), (C, "70"), (A_STR, "90")])
    assert truth.keys == [A, B, C]
    assert truth.accuracy.tolist() == [90.0, 80.0, 70.0]
    assert any("merged 1 duplicate" in n for n in truth.notices)


def test_missing_and_non_finite_accuracies_are_dropped_and_counted(tmp_path):
    truth = user_csv(tmp_path, [(A, "90"), (B, ""), (C, "n/a"), (D, "inf"), ("(1, 1, 1, 1, 1, 1)", "50"),
                                ("(0, 0, 0, 0, 0, 0)", "60")])
    assert len(truth) == 3
    assert any("dropped 3 of 6 row(s)" in n for n in truth.notices)


def test_fewer_than_three_usable_rows(tmp_path):
    with pytest.raises(DataError, match="only 2 usable row"):
        user_csv(tmp_path, [(A, "90"), (B, "nan"), (C, "70")])


def test_constant_accuracy_column(tmp_path):
    with pytest.raises(DataError, match="every accuracy is 90"):
        user_csv(tmp_path, [(A, "90"), (B, "90"), (C, "90")])


def test_nbsz_null_accuracies_are_dropped_with_a_notice(tmp_path):
    entries = {A: {"val_accuracy": 90.0, "params": 1.0}, B: {"val_accuracy": None, "params": 2.0},
               C: {"val_accuracy": 70.0, "params": 3.0}, D: {"val_accuracy": 60.0, "params": 4.0}}
    data_dir = fake_data_dir(tmp_path, entries)
    load_json.cache_clear()
    truth = load_truth(NB201, "cifar10", data_dir)
    assert truth.keys == [A, C, D]
    assert truth.stored["params"].tolist() == [1.0, 3.0, 4.0]  # the peer's scores stay aligned
    assert any("dropped 1 of 4" in n for n in truth.notices)


def test_benchmark_table_repeats_get_their_mean_accuracy(any_data_dir):
    """NB-SZ's NB101 table lists some networks several times with different training runs' accuracies: a
    benchmark table cannot be edited by the user, so each network is scored once at its mean accuracy."""
    space = get_space("nb101")
    truth = load_truth(space, "cifar10", any_data_dir)
    keys = [space.canonical_key(a) for a in truth.archs]
    assert len(set(keys)) == len(keys)
    assert any("mean accuracy" in n for n in truth.notices)


@pytest.mark.parametrize("override, message", [
    ({"repeats": "abc"}, "must be an integer"), ({"repeats": 0}, ">= 1"), ({"repeats": 2.5}, "integer"),
    ({"form": "printed"}, "one of paper, code"), ({"mu": "x"}, "finite number"), ({"mu": float("inf")}, "finite"),
])
def test_metric_options_are_checked_before_work(override, message):
    with pytest.raises(SwapbenchError, match=message):
        get_proxy("reg_swap").resolve_options(override)


def test_metric_options_that_fit_are_kept():
    opts = get_proxy("reg_swap").resolve_options({"mu": 2, "sigma": 1.5, "form": "code", "repeats": 4})
    assert (opts["mu"], opts["sigma"], opts["form"], opts["repeats"]) == (2, 1.5, "code", 4)
    assert get_proxy("zico").resolve_options({"cumulative": False})["cumulative"] is False


def test_samples_nest():
    for seed in range(3):
        big = sample_indices(725, 200, seed)
        assert sample_indices(725, 20, seed) == big[:20]
        assert sorted(sample_indices(725, 725, seed)) == list(range(725))
        assert len(set(big)) == 200


# ---------------------------------------------------------------------------------------------
# score caches and output locations: refused in one line, never deleted


def test_garbage_file_as_cache_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "cache.sqlite"
    payload = b"this is somebody's notes, not a database\n" * 100
    path.write_bytes(payload)
    with pytest.raises(StorageError, match="not a swapbench score cache.*left untouched"):
        ScoreCache(path)
    assert path.read_bytes() == payload


def test_truncated_cache_is_refused(tmp_path):
    path = tmp_path / "cache.sqlite"
    cache = ScoreCache(path)
    cache.put_many([("k", 0, f"a{i}", float(i), 0.1) for i in range(2000)])
    cache.close()
    for extra in ("-wal", "-shm"):
        (tmp_path / f"cache.sqlite{extra}").unlink(missing_ok=True)
    data = path.read_bytes()
    path.write_bytes(data[:100] + b"\0" * 50)
    with pytest.raises(StorageError, match="score cache"):
        ScoreCache(path).fetch("k", 0, ["a1"])


def test_another_programs_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (name TEXT)")
    with pytest.raises(StorageError, match="not a swapbench score cache \\(holds: customers\\)"):
        ScoreCache(path)
    with sqlite3.connect(path) as db:  # untouched: no score tables were added
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"customers"}


def test_cache_of_a_newer_format_is_refused(tmp_path):
    path = tmp_path / "cache.sqlite"
    ScoreCache(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value='99' WHERE name='format'")
    with pytest.raises(StorageError, match="format 99, written by a newer swapbench"):
        ScoreCache(path)


def test_cache_from_before_the_format_table_still_opens(tmp_path):
    path = tmp_path / "cache.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript("CREATE TABLE configs (key TEXT PRIMARY KEY, config TEXT NOT NULL);"
                         "CREATE TABLE scores (key TEXT NOT NULL, seed INTEGER NOT NULL, arch TEXT NOT NULL, "
                         "score REAL NOT NULL, seconds REAL NOT NULL, created REAL NOT NULL, "
                         "PRIMARY KEY (key, seed, arch));"
                         "INSERT INTO scores VALUES ('k', 0, 'a', 1.5, 0.1, 0);")
    assert ScoreCache(path).get("k", 0, "a") == 1.5


def test_directory_as_cache(tmp_path):
    with pytest.raises(StorageError, match="is a directory"):
        ScoreCache(tmp_path)


def test_out_that_is_a_file(tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    with pytest.raises(StorageError, match="is a file, not a directory"):
        writable_dir(target)
    assert target.read_text() == "keep me"


def test_write_faults_name_the_file_and_the_way_out(tmp_path):
    full = storage_error(tmp_path / "c.sqlite", OSError(errno.ENOSPC, "No space left on device"))
    assert "disk full" in str(full) and "c.sqlite" in str(full) and "re-run" in str(full)
    ro = storage_error(tmp_path / "c.sqlite", sqlite3.OperationalError("attempt to write a readonly database"))
    assert "writable filesystem" in str(ro) and "--cache" in str(ro)
    out = storage_error(tmp_path / "summary.csv", OSError(errno.EROFS, "Read-only file system"), "output")
    assert "--out" in str(out)


def test_nbsz_table_of_the_wrong_shape(tmp_path):
    data_dir = fake_data_dir(tmp_path, [1, 2, 3])
    load_json.cache_clear()
    with pytest.raises(DataError, match="holds a list, not a table of architectures"):
        load_truth(NB201, "cifar10", data_dir)
