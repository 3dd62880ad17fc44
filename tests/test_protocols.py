"""Named protocols resolve into the settings that key the cache and fill run.json; explicit flags win;
bootstrap intervals of rank correlations on hand-checkable cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy import stats

from swapbench.data.images import load_images
from swapbench.study.config import CorrelateConfig
from swapbench.study.engine import RunOptions, run_metadata
from swapbench.study.protocols import PROTOCOLS
from swapbench.study.runner import plan_run, run_batch
from swapbench.study.stats import bootstrap_correlations, correlation_table, percentile_interval, summarise


def plan_for(data_dir, **kw):
    config = CorrelateConfig(space="nb201", task="cifar10", proxies=["swap", "reg_swap"], n_archs=3, seeds=[0],
                             data_dir=str(data_dir), out="unused", **kw)
    return plan_run(config)


EXPECTED = {  # protocol -> (batch size, batch policy, swap repeats, reg_swap form)
    "paper": (64, "fixed", 1, "paper"),
    "swap-official": (16, "first", 32, "code"),
    "nbsz": (32, "per-arch", 1, "paper"),
}


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_protocol_settings_land_in_the_key_and_run_json(name, synthetic_data_dir):
    plan = plan_for(synthetic_data_dir, protocol=name)
    size, policy, repeats, form = EXPECTED[name]
    ident = plan.key_idents["reg_swap"]
    assert (ident["batch_size"], ident["batch_policy"]) == (size, policy)
    assert ident["options"]["repeats"] == repeats and ident["options"]["form"] == form
    assert plan.key_idents["swap"]["options"]["repeats"] == repeats
    from swapbench.study.config import Column, StudyConfig
    from swapbench.study.engine import StudyResult

    study = StudyConfig(name="t", columns=[Column("nb201", "cifar10")], protocol=name)
    timing = dict(column="nb201/cifar10", arch_seconds=0.0, compute_seconds=0.0, computed_this_run=0, reused=0,
                  finished_after=0.0, per_metric={})
    meta = run_metadata(study, [plan], StudyResult(None, None, None, [timing]), None, "swapbench correlate ...",
                        RunOptions())
    column = meta["columns"][0]
    assert column["protocol"] == name and meta["run"]["protocol"] == name
    assert (column["batch_size"], column["batch_policy"]) == (size, policy)
    assert column["proxy_options"]["reg_swap"]["form"] == form


def test_protocols_never_share_keys(synthetic_data_dir):
    keys = [plan_for(synthetic_data_dir, protocol=name).keys["reg_swap"] for name in PROTOCOLS]
    assert len(set(keys)) == len(keys)


def test_explicit_flags_override_the_protocol(synthetic_data_dir):
    data_dir = synthetic_data_dir
    plan = plan_for(data_dir, protocol="swap-official", batch_size=8, repeats=4,
                    proxy_options={"reg_swap": {"form": "paper"}})
    assert plan.batch_size == 8 and plan.batch_policy == "first"
    assert plan.options["swap"]["repeats"] == 4 and plan.options["reg_swap"]["repeats"] == 4
    assert plan.options["reg_swap"]["form"] == "paper"
    # the same settings reached by flags alone give the same cache key as the preset
    preset = plan_for(data_dir, protocol="swap-official")
    by_flags = plan_for(data_dir, batch_size=16, batch_policy="first", repeats=32,
                        proxy_options={"reg_swap": {"form": "code"}})
    assert preset.keys == by_flags.keys


def test_first_batch_is_the_first_training_images_for_every_seed(any_data_dir):
    data_dir = any_data_dir
    plan = plan_for(data_dir, protocol="swap-official")
    images = load_images("cifar10", data_dir)
    x0, y0 = run_batch(plan, 0, "a")
    x1, _ = run_batch(plan, 3, "b")
    mean = torch.tensor(images.mean).view(1, -1, 1, 1)
    std = torch.tensor(images.std).view(1, -1, 1, 1)
    assert torch.equal(x0, x1)
    assert torch.allclose(x0, (images.images[:16].float() / 255 - mean) / std)
    assert torch.equal(y0, images.labels[:16])


# ---------------------------------------------------------------------------------------------
# bootstrap intervals


def test_bootstrap_of_a_perfect_ranking_is_a_point():
    x = np.arange(10.0)
    rho, tau = bootstrap_correlations(x, 2 * x + 1, resamples=200)
    assert percentile_interval(rho) == pytest.approx((1.0, 1.0), abs=1e-12)
    assert percentile_interval(tau) == pytest.approx((1.0, 1.0), abs=1e-12)
    rho, _ = bootstrap_correlations(x, -x, resamples=200)
    assert percentile_interval(rho) == pytest.approx((-1.0, -1.0), abs=1e-12)


@pytest.mark.slow  # 40000 resamples, each with a scipy Kendall tau
def test_bootstrap_matches_the_exact_resampling_distribution():
    """n = 4: all 4^4 equally likely resamples enumerated; the Monte-Carlo quantiles must match them."""
    x, y = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])
    exact = []
    for idx in itertools.product(range(4), repeat=4):
        xs, ys = x[list(idx)], y[list(idx)]
        exact.append(stats.spearmanr(xs, ys).statistic if np.ptp(xs) > 0 and np.ptp(ys) > 0 else np.nan)
    exact = np.array(exact)
    rho, _ = bootstrap_correlations(x, y, resamples=40000, seed=1)
    assert np.isnan(rho).mean() == pytest.approx(np.isnan(exact).mean(), abs=0.01)
    for q in (2.5, 25, 50, 75, 97.5):
        # the bootstrap distribution is discrete: compare quantiles of the same distribution
        assert np.nanpercentile(rho, q) == pytest.approx(np.nanpercentile(exact, q), abs=0.05)


def test_seed_mean_interval_is_narrower_than_one_seed():
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(4):
        acc = rng.normal(size=60)
        score = acc + rng.normal(size=60)
        rows += [dict(seed=seed, arch=f"a{i}", proxy="m", score=s, accuracy=a)
                 for i, (s, a) in enumerate(zip(score, acc, strict=True))]
    import pandas as pd

    draws: dict = {}
    corr = correlation_table(pd.DataFrame(rows), "s", "t", resamples=300, draws=draws)
    summary = summarise(corr, draws).iloc[0]
    one = corr.iloc[0]
    assert one["spearman_lo"] < one["spearman"] < one["spearman_hi"]
    assert summary["spearman_lo"] < summary["spearman_mean"] < summary["spearman_hi"]
    assert summary["spearman_hi"] - summary["spearman_lo"] < one["spearman_hi"] - one["spearman_lo"]


# ---------------------------------------------------------------------------------------------
# ceilings: a metric whose scores sit at the most it can give ranks by near-ties


def test_ceiling_share_counts_scores_within_one_percent():
    import pandas as pd

    from swapbench.study.stats import ceiling_shares

    scores = pd.DataFrame(dict(proxy=["m"] * 5 + ["n"] * 2, score=[100.0, 99.0, 98.9, 50.0, np.nan, 1.0, 2.0]))
    # 100 and 99 are within 1 % of 100; 98.9 and 50 are not; NaN (not applicable) is left out
    assert ceiling_shares(scores, {"m": 100.0, "n": None}) == {"m": 0.5}


def test_pattern_metrics_know_their_ceilings():
    from swapbench.proxies.registry import get_proxy

    assert get_proxy("swap").ceiling_at(16) == 2.0**16  # 16 images: at most 65536 distinct unit patterns
    assert get_proxy("std_patterns").ceiling_at(16) == 16.0  # one code per image
    num_lr = get_proxy("num_lr")
    assert num_lr.ceiling_at(64) == 64.0
    assert num_lr.ceiling_at(64, num_lr.resolve_options({"variant": "tenas", "samples": 10})) == 30.0
    assert get_proxy("reg_swap").ceiling_at(16) is None and get_proxy("synflow").ceiling_at(16) is None
    assert np.isfinite(get_proxy("swap").ceiling_at(5000))


def test_a_run_at_the_ceiling_says_so(synthetic_data_dir, tmp_path):
    """Two images allow 4 sample-wise patterns and 2 per-image codes; every network with a few hundred
    units reaches both, so every score is at the ceiling and the run flags it."""
    import swapbench.api as api

    result = api.correlate("nb201", "cifar10", ["swap", "std_patterns", "params"], n_archs=4, seeds=[0],
                           batch_size=2, data_dir=str(synthetic_data_dir), cache=str(tmp_path / "c.sqlite"),
                           out=tmp_path / "run")
    assert set(result.scores.loc[result.scores["proxy"] == "swap", "score"]) == {4.0}
    shares = result.summary.set_index("proxy")["at_ceiling"]
    assert shares["swap"] == 1.0 and shares["std_patterns"] == 1.0 and np.isnan(shares["params"])
    notices = result.meta["columns"][0]["notices"]
    assert sum("of the metric's ceiling" in n for n in notices) == 2
    assert "swap on nb201/cifar10: 100 % of the scores" in (tmp_path / "run" / "summary.md").read_text()
