"""Algorithm 1 of SWAP-NAS (Peng et al., ICLR 2024, Appendix C): elitist evolution with tournament,
optional crossover and several mutations per cycle.

Independent of torch and of any space: it sees architectures only through an `Operators` object (sample,
mutate, crossover, key) and scores them with a `fitness` callable (higher is better). The same code therefore
runs on a toy fitness in the tests and on a cached training-free metric in `swapbench search`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from swapbench.errors import SwapbenchError


class Operators(Protocol):
    """What the search needs from a space: draw, vary and name architectures."""

    def sample(self, rng: np.random.Generator) -> Hashable: ...

    def mutate(self, arch: Hashable, rng: np.random.Generator) -> Hashable: ...

    def crossover(self, a: Hashable, b: Hashable, rng: np.random.Generator) -> tuple[Hashable, Hashable]: ...

    def key(self, arch: Hashable) -> str: ...


@dataclass
class EvolutionConfig:
    """Algorithm 1's parameters. The paper publishes none of their values; these defaults give about
    20 + 20 x (5 + 2 x 0.5) = 140 fitness calls, which a CPU core runs in about 40 s on NB201."""

    population: int = 20  # P
    cycles: int = 20  # C
    sample_size: int | None = None  # S; None: half the population (the paper's tournament)
    mutation_times: int = 5  # children per cycle
    crossover_prob: float = 0.5  # chance that the parent comes from a crossover of the two best candidates

    def tournament(self) -> int:
        return self.sample_size if self.sample_size is not None else max(2, self.population // 2)

    def check(self) -> None:
        if self.population < 2:
            raise SwapbenchError(f"--population must be at least 2 (got {self.population})")
        if self.cycles < 0:
            raise SwapbenchError(f"--cycles must be >= 0 (got {self.cycles})")
        if self.mutation_times < 1:
            raise SwapbenchError(f"--mutation-times must be >= 1 (got {self.mutation_times})")
        if not 1 <= self.tournament() <= self.population:
            raise SwapbenchError(f"--sample-size must be in 1..{self.population} (got {self.tournament()})")
        if not 0.0 <= self.crossover_prob <= 1.0:
            raise SwapbenchError(f"--crossover-prob must be in [0, 1] (got {self.crossover_prob})")

    def max_evaluations(self) -> int:
        """Upper bound on fitness calls (every cycle crosses over): the size of a progress bar."""
        per_cycle = self.mutation_times + (2 if self.crossover_prob > 0 and self.tournament() >= 2 else 0)
        return self.population + self.cycles * per_cycle

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Member:
    arch: Hashable
    key: str
    score: float


@dataclass
class Evaluation:
    """One fitness call, in order: what was scored, why, and the best score seen so far."""

    index: int  # 1-based
    cycle: int  # 0 for the initial population
    stage: str  # init, crossover or mutation
    key: str
    score: float
    best_score: float
    best_key: str


@dataclass
class EvolutionResult:
    best: Member
    population: list[Member]
    history: list[Evaluation] = field(default_factory=list)

    @property
    def evaluations(self) -> int:
        return len(self.history)

    @property
    def unique(self) -> int:
        return len({e.key for e in self.history})


def _rank(score: float) -> float:
    """NaN (a metric that does not apply) ranks below every number."""
    return -math.inf if score != score else score


def evolve(ops: Operators, fitness: Callable[[Hashable], float], config: EvolutionConfig,
           rng: np.random.Generator, on_eval: Callable[[Evaluation], None] | None = None) -> EvolutionResult:
    """Run Algorithm 1. Deterministic given `rng` and a deterministic fitness, which is what lets a killed
    search resume: replaying it with a cached fitness reaches the same state without recomputing.

    Choices the paper leaves open: a child that is already a member is not added twice (the population stays
    a set; the worst member is then kept), and ties for worst are broken by age (the oldest leaves).
    """
    config.check()
    history: list[Evaluation] = []
    best: Member | None = None

    def evaluate(arch: Hashable, cycle: int, stage: str) -> Member:
        nonlocal best
        member = Member(arch, ops.key(arch), float(fitness(arch)))
        if best is None or _rank(member.score) > _rank(best.score):
            best = member
        event = Evaluation(len(history) + 1, cycle, stage, member.key, member.score, best.score, best.key)
        history.append(event)
        if on_eval is not None:
            on_eval(event)
        return member

    population: list[Member] = []
    keys: set[str] = set()
    draws = 0
    while len(population) < config.population:
        arch = ops.sample(rng)
        draws += 1
        # in a tiny space the population may have to repeat an architecture; otherwise it starts distinct
        if ops.key(arch) in keys and draws < 100 * config.population:
            continue
        member = evaluate(arch, 0, "init")
        population.append(member)
        keys.add(member.key)

    size = config.tournament()
    for cycle in range(1, config.cycles + 1):
        picked = rng.choice(len(population), size=size, replace=False)
        candidates = sorted((population[i] for i in picked), key=lambda m: _rank(m.score), reverse=True)
        parent = candidates[0]
        if len(candidates) >= 2 and rng.random() < config.crossover_prob:
            a, b = ops.crossover(candidates[0].arch, candidates[1].arch, rng)
            first, second = evaluate(a, cycle, "crossover"), evaluate(b, cycle, "crossover")
            parent = first if _rank(first.score) >= _rank(second.score) else second
        children = [evaluate(ops.mutate(parent.arch, rng), cycle, "mutation") for _ in range(config.mutation_times)]
        child = max(children, key=lambda m: _rank(m.score))  # first of equals
        if child.key in keys:
            continue
        population.append(child)
        keys.add(child.key)
        worst = min(range(len(population)), key=lambda i: _rank(population[i].score))
        keys.discard(population.pop(worst).key)
    assert best is not None
    return EvolutionResult(best=best, population=population, history=history)


def random_search(ops: Operators, fitness: Callable[[Hashable], float], evaluations: int,
                  rng: np.random.Generator, on_eval: Callable[[Evaluation], None] | None = None) -> EvolutionResult:
    """The baseline at a fixed budget: `evaluations` distinct random architectures (fewer if the space is
    smaller), each scored once; the best by fitness wins."""
    history: list[Evaluation] = []
    members: list[Member] = []
    seen: set[str] = set()
    best: Member | None = None
    draws = 0
    while len(members) < evaluations and draws < 100 * max(evaluations, 1):
        arch = ops.sample(rng)
        draws += 1
        key = ops.key(arch)
        if key in seen:
            continue
        seen.add(key)
        member = Member(arch, key, float(fitness(arch)))
        members.append(member)
        if best is None or _rank(member.score) > _rank(best.score):
            best = member
        event = Evaluation(len(history) + 1, 0, "random", key, member.score, best.score, best.key)
        history.append(event)
        if on_eval is not None:
            on_eval(event)
    if best is None:
        raise SwapbenchError("random search needs at least one evaluation")
    return EvolutionResult(best=best, population=members, history=history)
