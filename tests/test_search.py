"""SWAP-NAS search: operators keep encodings valid, Algorithm 1 finds a toy optimum, resume recomputes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import swapbench.search.run as search_run
from swapbench.errors import SwapbenchError
from swapbench.search import EvolutionConfig, SearchConfig, evolve, plan_search, random_search, run_search
from swapbench.search.run import SpaceOperators
from swapbench.spaces import get_space
from swapbench.study.cache import ScoreCache

SEARCHABLE = ["nb201", "nb101", "nb301", "darts", "darts-swap"]


@pytest.mark.parametrize("name", SEARCHABLE)
def test_mutation_and_crossover_keep_encodings_valid(name):
    space = get_space(name)
    rng = np.random.default_rng(0)
    changed = 0
    for _ in range(150):
        a, b = space.random_arch(rng), space.random_arch(rng)
        child = space.mutate(a, rng)
        kids = space.crossover(a, b, rng)
        for arch in (child, *kids):
            key = space.canonical_key(arch)
            assert space.canonical_key(space.parse(key)) == key  # decodes back to itself: a valid encoding
        changed += space.canonical_key(child) != space.canonical_key(a)
        # crossover only exchanges material: together the children hold what the parents held
        if name in ("nb201",):
            assert sorted(kids[0] + kids[1]) == sorted(a + b)
    assert changed == 150  # a mutation always changes the architecture


@pytest.mark.parametrize("name", ["nb301", "darts"])
def test_darts_like_mutation_keeps_two_distinct_inputs(name):
    space = get_space(name)
    rng = np.random.default_rng(1)
    arch = space.random_arch(rng)
    for _ in range(300):
        arch = space.mutate(arch, rng)
        for cell in arch:
            for node in range(4):
                assert cell[2 * node][0] != cell[2 * node + 1][0]


class BitOps:
    """OneMax on 16 bits: a toy space with a known optimum (all ones)."""

    n = 16

    def sample(self, rng):
        return tuple(int(v) for v in rng.integers(0, 2, self.n))

    def mutate(self, arch, rng):
        bits = list(arch)
        bits[int(rng.integers(self.n))] ^= 1
        return tuple(bits)

    def crossover(self, a, b, rng):
        cut = int(rng.integers(1, self.n))
        return a[:cut] + b[cut:], b[:cut] + a[cut:]

    def key(self, arch):
        return "".join(map(str, arch))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_algorithm_1_finds_the_toy_optimum(seed):
    calls = []

    def fitness(arch):
        calls.append(arch)
        return float(sum(arch))

    config = EvolutionConfig(population=10, cycles=60, mutation_times=4, crossover_prob=0.5)
    result = evolve(BitOps(), fitness, config, np.random.default_rng(seed))
    assert result.best.score == 16
    assert result.evaluations == len(calls) <= config.max_evaluations()
    assert [e.best_score for e in result.history] == sorted(e.best_score for e in result.history)
    assert len({m.key for m in result.population}) == len(result.population) == 10  # elitist set, size P


def test_algorithm_1_beats_random_search_on_nb201_toy_fitness():
    """Toy fitness on the real NB201 operators: closeness to a target cell; evolution reaches it."""
    space = get_space("nb201")
    target = (2, 3, 1, 4, 2, 0)

    def fitness(arch):
        return float(sum(a == t for a, t in zip(arch, target, strict=True)))

    ops = SpaceOperators(space)
    config = EvolutionConfig(population=10, cycles=40, mutation_times=4)
    found = [evolve(ops, fitness, config, np.random.default_rng(s)).best.arch for s in range(3)]
    assert found == [target] * 3
    budget = config.max_evaluations()
    rand = [random_search(ops, fitness, budget, np.random.default_rng(s)).best.score for s in range(3)]
    assert max(rand) < 6  # 250 of 15625 random cells essentially never contain the target


def test_bad_search_input_is_one_error(synthetic_data_dir):
    data_dir = synthetic_data_dir
    with pytest.raises(SwapbenchError, match="--population"):
        plan_search(SearchConfig(space="nb201", task="cifar10", evolution=EvolutionConfig(population=1),
                                 data_dir=str(data_dir)))
    with pytest.raises(SwapbenchError, match="applies to reg_swap"):
        plan_search(SearchConfig(space="nb201", task="cifar10", metric="params", mu=1.0, data_dir=str(data_dir)))
    with pytest.raises(SwapbenchError, match="no mutation"):
        plan_search(SearchConfig(space="tnb101_micro", task="class_scene", metric="params", data_dir=str(data_dir)))


def _config(tmp_path: Path, data_dir: Path, name: str) -> SearchConfig:
    return SearchConfig(space="nb201", task="cifar10", metric="params", seeds=[0], baseline=True,
                        evolution=EvolutionConfig(population=3, cycles=2, mutation_times=2),
                        data_dir=str(data_dir), out=str(tmp_path / name), threads=1)


def test_resume_after_kill_recomputes_nothing(tmp_path, synthetic_data_dir, monkeypatch, one_thread):
    data_dir = synthetic_data_dir
    # uninterrupted reference
    ref_cache = ScoreCache(tmp_path / "ref.sqlite")
    reference = run_search(plan_search(_config(tmp_path, data_dir, "ref")), ref_cache)
    total = int(reference.results["computed"].sum())
    assert total == int(reference.results["unique"].sum()) - _overlap(reference.results)

    # a run killed after 5 scores
    real = search_run.score_arch
    done = []

    def dying(*args, **kwargs):
        if len(done) == 5:
            raise KeyboardInterrupt
        done.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(search_run, "score_arch", dying)
    cache = ScoreCache(tmp_path / "resume.sqlite")
    with pytest.raises(KeyboardInterrupt):
        run_search(plan_search(_config(tmp_path, data_dir, "resume")), cache)
    monkeypatch.setattr(search_run, "score_arch", real)
    assert cache.count() == 5

    resumed = run_search(plan_search(_config(tmp_path, data_dir, "resume")), cache)
    assert int(resumed.results["computed"].sum()) == total - 5
    cols = ["seed", "algorithm", "arch", "score", "evaluations", "unique", "accuracy"]
    pd.testing.assert_frame_equal(resumed.results[cols], reference.results[cols])
    pd.testing.assert_frame_equal(resumed.trajectory, reference.trajectory)

    again = run_search(plan_search(_config(tmp_path, data_dir, "resume")), cache)
    assert int(again.results["computed"].sum()) == 0
    assert (again.results["accuracy"] > 0).all()  # every NB201 arch is in the full-space table


def _overlap(results: pd.DataFrame) -> int:
    """Scores a seed's random search reuses from its evolution (same seed, same cache key)."""
    return int(results["reused"].sum())


def test_size_control_follows_mu(tmp_path, synthetic_data_dir, one_thread):
    data_dir = synthetic_data_dir
    from swapbench.search.size_control import SizeControlConfig, size_control

    config = SizeControlConfig(space="darts-swap", mus=[0.5, 2.3], seeds=[0],
                               evolution=EvolutionConfig(population=6, cycles=3, mutation_times=3), n_random=20,
                               data_dir=str(data_dir), out=str(tmp_path))
    found, sizes, summary = size_control(config, ScoreCache(tmp_path / "c.sqlite"))
    small, large = found.sort_values("mu")["size"].tolist()
    assert small < 1.2 < large  # thousands of parameters of the one-cell network
    assert summary["spearman_mu_size"] == pytest.approx(1.0)
    assert len(sizes) == 20 and 0.3 < sizes.min() and sizes.max() < 2.6


def test_search_cli_bad_input_is_one_line(synthetic_data_dir):
    from test_cli import assert_clean_error, swapbench

    data_dir = synthetic_data_dir

    assert_clean_error(swapbench("search", "--space", "nb201", "--population", "1", "--data-dir", str(data_dir)),
                       "--population")
    assert_clean_error(swapbench("search", "--space", "tnb101_micro", "--task", "class_scene", "--data-dir",
                                 str(data_dir)), "no mutation")


def test_searchable_is_a_capability_of_the_space():
    """Search needs mutate + crossover (a structural Protocol); a space without them is refused at planning."""
    from swapbench.search.run import Searchable, SearchConfig, plan_search
    from swapbench.spaces import get_space

    assert isinstance(get_space("nb201"), Searchable) and isinstance(get_space("nb301"), Searchable)
    assert not isinstance(get_space("tnb101_micro"), Searchable)
    with pytest.raises(SwapbenchError, match="no mutation/crossover operators; searchable spaces: .*nb201"):
        plan_search(SearchConfig(space="tnb101_micro", task="class_scene", seeds=[0]))
