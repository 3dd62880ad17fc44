"""`swapbench study` and `swapbench regress` on the synthetic data dir: config validation, reports, prefix reuse of
quick runs, regression detection, and identical tables from every backend."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from test_cli import assert_clean_error, swapbench
from typer.testing import CliRunner

from swapbench.cli import app
from swapbench.errors import SwapbenchError
from swapbench.proxies.registry import PROXIES
from swapbench.report.heatmap import compare, order_by_mean, pivot
from swapbench.study.cache import ScoreCache
from swapbench.study.config import StudyConfig, load_study, select_columns
from swapbench.study.regress import moved_cells
from swapbench.study.stats import correlation_table

pytestmark = pytest.mark.usefixtures("one_thread", "quick_bootstrap")

TINY = """
name = "tiny"
proxies = ["params", "flops", "synflow", "nwot"]
seeds = [0, 1]
n_archs = 6

[[columns]]
space = "nb201"
task = "cifar10"
batch_size = 8

[[columns]]
space = "nb201"
task = "ImageNet16-120"
batch_size = 8
"""


def write(tmp_path, text: str = TINY, name: str = "tiny.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def run_cli(*args: str):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory, synthetic_data_dir, quick_bootstrap):
    """One finished tiny study (local backend) shared by the tests below."""
    tmp = tmp_path_factory.mktemp("study")
    config = write(tmp)
    out, cache = tmp / "out", tmp / "cache.sqlite"
    result = run_cli("study", str(config), "--out", str(out), "--cache", str(cache), "--threads", "1",
                     "--data-dir", str(synthetic_data_dir))
    assert result.exit_code == 0, result.output
    return dict(config=config, out=out, cache=cache, tmp=tmp)


def test_config_validation(tmp_path):
    study = load_study(write(tmp_path))
    assert [c.label for c in study.columns] == ["nb201/cifar10", "nb201/ImageNet16-120"]
    assert study.seeds == [0, 1] and study.n_archs == 6
    assert StudyConfig.from_dict({"name": "a", "proxies": "all", "columns": [{"space": "nb201", "task": "cifar10"}]}
                                 ).proxies == PROXIES.names()
    for bad, needle in [
        ({"name": "a", "columns": [{"space": "nb201", "task": "cifar10"}], "seed": [0]}, "unknown key"),
        ({"name": "a", "columns": []}, "at least one"),
        ({"name": "a", "columns": [{"space": "nb201"}]}, "needs `space` and `task`"),
        ({"name": "a", "columns": [{"space": "nb201", "task": "x", "bogus": 1}]}, "unknown key"),
        ({"name": "a", "proxies": ["nope"], "columns": [{"space": "nb201", "task": "cifar10"}]}, "unknown proxy"),
        ({"name": "a", "seeds": [], "columns": [{"space": "nb201", "task": "cifar10"}]}, "seeds"),
    ]:
        with pytest.raises(SwapbenchError, match=needle):
            StudyConfig.from_dict(bad)


def test_columns_by_name_or_space():
    fig4 = load_study(ROOT / "configs" / "fig4.toml")
    labels = [c.label for c in select_columns(fig4, "nb301/cifar10,nb101,tnb101_macro/jigsaw").columns]
    assert labels == ["nb101/cifar10", "nb301/cifar10", "tnb101_macro/jigsaw"]  # the config's order
    assert [c.label for c in select_columns(fig4, "nb201").columns] == [
        "nb201/cifar10", "nb201/cifar100", "nb201/ImageNet16-120"]
    assert len(select_columns(fig4, "tnb101_micro, tnb101_macro").columns) == 8
    assert select_columns(fig4, None) is fig4
    with pytest.raises(SwapbenchError, match="not in study 'fig4'.*or a space: nb101, nb201"):
        select_columns(fig4, "nb201,darts")


def test_bad_study_input_is_one_line(tmp_path, synthetic_data_dir):
    assert_clean_error(swapbench("study", str(tmp_path / "none.toml")), "not found")
    assert_clean_error(swapbench("study", str(write(tmp_path, "name = [", "t1.toml"))), "not valid TOML")
    bad_task = TINY.replace('task = "ImageNet16-120"', 'task = "mnist"')
    assert_clean_error(swapbench("study", str(write(tmp_path, bad_task, "t2.toml")), "--data-dir",
                                 str(synthetic_data_dir)), "mnist")
    assert_clean_error(swapbench("study", str(write(tmp_path)), "--limit-archs", "2"), "--limit-archs")
    assert_clean_error(swapbench("study", str(write(tmp_path)), "--backend", "mpi"), "unknown backend")
    assert_clean_error(swapbench("study", str(write(tmp_path)), "--checkpointing", "yes"), "unknown --checkpointing")
    assert_clean_error(swapbench("study", str(write(tmp_path)), "--columns", "nb201/cifar100"), "not in study")
    assert_clean_error(swapbench("study", str(write(tmp_path)), "--proxies", "swap"), "not in study")
    assert_clean_error(swapbench("regress", str(tmp_path)), "not a stored study")


def test_study_outputs_match_correlate(tiny_study, synthetic_data_dir):
    out = tiny_study["out"]
    for name in ("summary.csv", "summary.md", "correlations.csv", "scores.csv.gz", "figures/heatmap.png",
                 "figures/heatmap.pdf", "run.json"):
        assert (out / name).is_file(), name
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * 4 and set(summary["seeds"]) == {2} and set(summary["n"]) == {6}
    meta = json.loads((out / "run.json").read_text())
    assert meta["study"]["name"] == "tiny" and [c["column"] for c in meta["columns"]] == [
        "nb201/cifar10", "nb201/ImageNet16-120"]
    assert all(c["seconds_per_arch"] > 0 for c in meta["columns"])
    assert {c["checkpointing"] for c in meta["columns"]} == {"auto"}
    # the same column through `correlate` reuses every score and gives the same table (block checkpointing,
    # a memory setting, is recorded but keys nothing)
    result = run_cli("correlate", "--space", "nb201", "--task", "cifar10", "--proxies", "params,flops,synflow,nwot",
                     "--n-archs", "6", "--seeds", "0-1", "--batch-size", "8", "--cache", str(tiny_study["cache"]),
                     "--out", str(tiny_study["tmp"] / "corr"), "--data-dir", str(synthetic_data_dir), "--threads", "1",
                     "--checkpointing", "off")
    assert result.exit_code == 0 and "computed 0 scores" in result.output
    assert json.loads((tiny_study["tmp"] / "corr" / "run.json").read_text())["columns"][0]["checkpointing"] == "off"
    single = pd.read_csv(tiny_study["tmp"] / "corr" / "summary.csv").set_index("proxy")["spearman_mean"]
    mine = summary[summary["task"] == "cifar10"].set_index("proxy")["spearman_mean"]
    assert np.allclose(single.loc[mine.index], mine, equal_nan=True)


def test_limit_archs_is_a_prefix_of_the_full_run(tiny_study, synthetic_data_dir):
    out = tiny_study["tmp"] / "quick"
    result = run_cli("study", str(tiny_study["config"]), "--limit-archs", "3", "--out", str(out),
                     "--cache", str(tiny_study["cache"]), "--data-dir", str(synthetic_data_dir), "--threads", "1")
    assert result.exit_code == 0 and "computed 0 scores" in result.output  # all reused from the full run
    quick = pd.read_csv(out / "scores.csv.gz")
    full = pd.read_csv(tiny_study["out"] / "scores.csv.gz")
    for (space, task, seed), group in quick.groupby(["space", "task", "seed"]):
        archs = list(dict.fromkeys(group["arch"]))
        same = (full.space == space) & (full.task == task) & (full.seed == seed)
        full_archs = list(dict.fromkeys(full[same]["arch"]))
        assert archs == full_archs[:3]


def test_a_metric_subset_reuses_the_full_runs_scores(tiny_study, synthetic_data_dir):
    out = tiny_study["tmp"] / "subset"
    result = run_cli("study", str(tiny_study["config"]), "--proxies", "nwot,params", "--out", str(out),
                     "--cache", str(tiny_study["cache"]), "--data-dir", str(synthetic_data_dir), "--threads", "1")
    assert result.exit_code == 0 and "computed 0 scores" in result.output
    assert "reused 48 from the cache" in result.output
    subset = pd.read_csv(out / "summary.csv")
    assert list(dict.fromkeys(subset["proxy"])) == ["params", "nwot"]  # the config's order
    full = pd.read_csv(tiny_study["out"] / "summary.csv")
    full = full[full["proxy"].isin(["params", "nwot"])]
    assert np.allclose(subset["spearman_mean"], full["spearman_mean"], equal_nan=True)
    assert json.loads((out / "run.json").read_text())["study"]["proxies"] == ["params", "nwot"]


def test_reference_diff_and_gaps(tiny_study, tmp_path, synthetic_data_dir):
    summary = pd.read_csv(tiny_study["out"] / "summary.csv")
    ref = summary[["proxy", "space", "task"]].copy()
    ref["spearman"] = 0.5
    ref = ref.iloc[:5]
    path = tmp_path / "ref.csv"
    ref.to_csv(path, index=False)
    out = tmp_path / "with-ref"
    result = run_cli("study", str(tiny_study["config"]), "--out", str(out), "--cache", str(tiny_study["cache"]),
                     "--reference", str(path), "--data-dir", str(synthetic_data_dir), "--threads", "1")
    assert result.exit_code == 0, result.output
    gaps = pd.read_csv(out / "gaps.csv")
    assert len(gaps) == 5
    merged = gaps.merge(summary, on=["space", "task", "proxy"])
    assert np.allclose(merged["diff"], merged["spearman_mean"] - 0.5, equal_nan=True)
    assert (out / "figures/heatmap_diff.png").is_file() and (out / "figures/heatmap_diff.pdf").is_file()
    assert "within ±0.05" in (out / "summary.md").read_text()


@pytest.mark.slow  # two full reruns of the study, each from a fresh cache
def test_regress_passes_then_catches_a_changed_metric(tiny_study, monkeypatch, synthetic_data_dir):
    args = ["regress", str(tiny_study["out"]), "--data-dir", str(synthetic_data_dir), "--threads", "1"]
    ok = run_cli(*args)
    assert ok.exit_code == 0, ok.output
    assert "regression passed" in ok.output
    # a metric whose definition changed (synflow now negated) must fail the check, cell by cell
    spec = PROXIES.get("synflow")
    changed = dataclasses.replace(spec, fn=lambda *a: -spec.fn(*a))
    monkeypatch.setitem(PROXIES._items, "synflow", changed)
    bad = run_cli(*args)
    assert bad.exit_code == 1
    assert "synflow" in bad.output and "nwot" not in bad.output.split("moved beyond")[1]


def test_moved_cells():
    keys = dict(space=["s"] * 3, task=["t"] * 3, proxy=["a", "b", "c"])
    stored = pd.DataFrame({**keys, "spearman_mean": [0.5, 0.2, float("nan")]})
    fresh = pd.DataFrame({**keys, "spearman_mean": [0.51, 0.25, 0.1]})
    moved = moved_cells(stored, fresh, 0.02)
    assert list(moved["proxy"]) == ["b", "c"]
    assert moved.iloc[0]["delta"] == pytest.approx(0.05) and moved.iloc[1]["reason"] == "NaN changed"
    assert moved_cells(stored, fresh.iloc[:2], 0.1)["reason"].tolist() == ["missing now"]


def test_heatmap_order_and_compare():
    frame = pd.DataFrame(dict(space=["a", "a", "b", "b"], task=["x", "x", "y", "y"], proxy=["p", "q", "p", "q"],
                              spearman_mean=[0.1, 0.9, 0.2, float("nan")], n=5, seeds=1))
    table = order_by_mean(pivot(frame))
    assert list(table.index) == ["q", "p"]  # q: mean 0.9 (NaN skipped) > p: 0.15
    assert list(table.columns) == [("a", "x"), ("b", "y")]  # 0.5 > 0.2
    ref = pd.DataFrame(dict(proxy=["p", "q"], space=["a", "b"], task=["x", "y"], reference=[0.3, 0.4]))
    both = compare(frame, ref)
    assert both.iloc[1]["diff"] == pytest.approx(-0.2) and math.isnan(both.iloc[0]["diff"])


def test_not_applicable_scores_are_kept_as_nan(tmp_path):
    cache = ScoreCache(tmp_path / "c.sqlite")
    cache.put("k", 0, "a", float("nan"), 0.1)
    cache.put_many([("k", 0, "b", 2.0, 0.1), ("k", 0, "c", 3.0, 0.1), ("k", 0, "d", 4.0, 0.1)])
    got = cache.fetch("k", 0, ["a", "b"])
    assert math.isnan(got["a"][0]) and got["b"][0] == 2.0 and math.isnan(cache.get("k", 0, "a"))
    cache.close()
    scores = pd.DataFrame(dict(seed=0, arch=list("abcd"), proxy="m", score=[float("nan"), 2, 3, 4],
                               accuracy=[9, 1, 2, 3]))
    row = correlation_table(scores, "s", "t").iloc[0]
    assert row["n"] == 3 and row["spearman"] == pytest.approx(1.0)  # the NaN arch is left out


@pytest.mark.slow  # worker processes (a Ray cluster) start in seconds
@pytest.mark.parametrize("backend", ["process", "ray"])
def test_backends_fill_the_cache_with_identical_scores(tiny_study, tmp_path, synthetic_data_dir, backend):
    if backend == "ray":
        pytest.importorskip("ray")
    cache = tmp_path / "cache.sqlite"
    out = tmp_path / "out"
    result = run_cli("study", str(tiny_study["config"]), "--limit-archs", "4", "--backend", backend,
                     "--workers", "2", "--threads", "1", "--out", str(out), "--cache", str(cache),
                     "--data-dir", str(synthetic_data_dir))
    assert result.exit_code == 0, result.output
    assert f"({backend}, 2 worker(s))" in result.output

    def rows(path):
        with sqlite3.connect(path) as db:
            return dict(((k, s, a), v) for k, s, a, v in db.execute("SELECT key, seed, arch, score FROM scores"))

    mine, reference = rows(cache), rows(tiny_study["cache"])
    assert len(mine) == 2 * 2 * 4 * 4  # columns x seeds x archs x metrics
    assert all(reference[k] == v or (math.isnan(v) and math.isnan(reference[k])) for k, v in mine.items())


def test_stored_ci_config_is_valid():
    study = load_study(ROOT / "configs" / "ci.toml")
    fig4 = load_study(ROOT / "configs" / "fig4.toml")
    assert len(fig4.columns) == 13 and len(fig4.proxies) == 17 and fig4.seeds == [0, 1, 2, 3, 4]
    assert study.name == "ci"
