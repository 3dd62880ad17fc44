"""Architecture search with training-free fitness: SWAP-NAS's Algorithm 1 and a random-search baseline.

Python entry point::

    from swapbench.search import SearchConfig, plan_search, run_search
    splan = plan_search(SearchConfig(space="nb201", task="cifar10", seeds=[0, 1]))
    run = run_search(splan, ScoreCache(Path("runs/cache.sqlite")))   # run.results: one row per search

`evolution` (the algorithm) needs neither torch nor a space; `run` binds it to spaces, metrics and the cache.
"""

from swapbench.search.evolution import EvolutionConfig, EvolutionResult, evolve, random_search
from swapbench.search.run import SearchConfig, SearchPlan, SearchRun, plan_search, run_search, summarise_search

__all__ = ["EvolutionConfig", "EvolutionResult", "SearchConfig", "SearchPlan", "SearchRun", "evolve",
           "plan_search", "random_search", "run_search", "summarise_search"]
