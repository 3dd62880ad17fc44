"""The public Python API: the one path the command line, the benchmarks, the ablations and the tests use.

    import swapbench
    net = swapbench.build_network("nb201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|...|", "cifar10")
    scores = swapbench.score("nb201", arch, "cifar10", ["swap", "params"])      # {"swap": Score(value, seconds)}
    result = swapbench.correlate("nb201", "cifar100", ["swap", "reg_swap"], n_archs=100, seeds=[0])
    result.summary; result.write("runs/nb201-cifar100")
    result = swapbench.study("configs/ci.toml", limit_archs=8)

Every function checks its input before any work (a `SwapbenchError` with a one-line message), scores go to
the shared SQLite cache the moment they are computed, and a re-run resumes from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from torch import nn

from swapbench.errors import SwapbenchError
from swapbench.report.run import write_run
from swapbench.spaces import get_space
from swapbench.study.backends import ExecOptions
from swapbench.study.cache import ScoreCache
from swapbench.study.config import (
    Column,
    CorrelateConfig,
    StudyConfig,
    default_cache,
    load_study,
    select_columns,
    select_proxies,
)
from swapbench.study.engine import Display, RunOptions, StudyResult, run_study
from swapbench.study.protocols import get_protocol
from swapbench.study.regress import load_stored, moved_cells
from swapbench.study.rundir import Imported, stored_rows
from swapbench.study.runner import build_network as _build
from swapbench.study.runner import plan_run, score_arch, writable_dir

__all__ = ["Score", "Result", "Regression", "build_network", "score", "correlate", "study", "regress", "rerender",
           "execution", "validate", "ablation_input_size", "ablation_regularisation", "search", "size_control",
           "import_scores"]


@dataclass(frozen=True)
class Score:
    value: float  # NaN: the metric does not apply to this network
    seconds: float


@dataclass
class Result:
    """A finished run: `scores` (one row per arch x metric x seed), `correlations` (per seed), `summary`
    (per column and metric, with 95 % intervals), `meta` (what run.json holds); `write` makes the run
    directory (see swapbench.report.run for its files)."""

    run: StudyResult
    reference: str | None = None
    files: dict[str, Any] = field(default_factory=dict)  # what `write` reported (figures, gap counts)

    @property
    def scores(self) -> pd.DataFrame:
        return self.run.scores

    @property
    def correlations(self) -> pd.DataFrame:
        return self.run.correlations

    @property
    def summary(self) -> pd.DataFrame:
        return self.run.summary

    @property
    def meta(self) -> dict[str, Any]:
        return self.run.meta

    @property
    def computed(self) -> int:
        return self.run.computed

    def write(self, out_dir: str | Path, scores: bool = True) -> dict[str, Any]:
        return write_run(self.run, Path(out_dir), self.reference, scores=scores)


def execution(backend: str | None = None, workers: int | None = None, threads: int | None = None,
              ray_address: str | None = None, workers_per_gpu: int | None = None,
              checkpointing: str = "auto") -> ExecOptions:
    """Where and how scoring runs; the backend defaults to `process` when more than one worker (or several per
    GPU) is asked for. `checkpointing` (auto, on, off) trades time for memory on networks that checkpoint their
    blocks (auto: on), never a score beyond float rounding (grasp's, see swapbench.nn.blockwise)."""
    if backend is None:
        backend = "process" if (workers or 1) > 1 or workers_per_gpu else "local"
    options = ExecOptions(backend=backend, workers=workers, threads=threads, ray_address=ray_address,
                          workers_per_gpu=workers_per_gpu, checkpointing=checkpointing)
    options.check()
    return options


def _parse_arch(space: Any, arch: Any, data_dir: str | None) -> Any:
    if not isinstance(arch, str):
        return arch
    from swapbench.data.datadir import resolve_data_dir

    return space.parse(arch, resolve_data_dir(data_dir, must_exist=False))


def build_network(space: str, arch: Any, task: str, *, seed: int = 0) -> nn.Module:
    """The untrained network a run scores for (space, arch, task, seed): `arch` is any encoding the space
    reads (e.g. an NB201 arch string) or a parsed architecture."""
    sp = get_space(space)
    sp.task(task)
    return _build(sp, _parse_arch(sp, arch, None), task, seed)


def score(space: str, arch: Any, task: str, metrics: Sequence[str] = ("swap", "reg_swap"), *, seed: int = 0,
          protocol: str = "paper", device: str = "auto", data_dir: str | None = None, batch_size: int | None = None,
          options: dict[str, dict[str, Any]] | None = None, checkpointing: str = "auto") -> dict[str, Score]:
    """Scores of one architecture, exactly as a correlate run with the same seed and protocol computes them."""
    config = CorrelateConfig(space=space, task=task, proxies=list(metrics), n_archs=3, seeds=[seed],
                             protocol=protocol, batch_size=batch_size, proxy_options=dict(options or {}),
                             device=device, data_dir=data_dir, checkpointing=checkpointing)
    plan = plan_run(config, with_truth=False)
    parsed = _parse_arch(plan.space, arch, data_dir)
    return {name: Score(value, secs) for name, (value, secs) in score_arch(plan, seed, parsed, plan.proxies).items()}


def correlate(space: str, task: str, metrics: Sequence[str] = ("swap", "reg_swap"), *, n_archs: int = 1000,
              seeds: Iterable[int] = (0, 1, 2, 3, 4), protocol: str = "paper", batch_size: int | None = None,
              batch_policy: str | None = None, repeats: int | None = None,
              options: dict[str, dict[str, Any]] | None = None, truth: str | None = None,
              arch_column: str | None = None, acc_column: str | None = None, device: str = "auto",
              data_dir: str | None = None, cache: str | None = None, limit_archs: int | None = None,
              exec_options: ExecOptions | None = None, display: Display | None = None,
              command: str | None = None, out: str | Path | None = None) -> Result:
    """Score sampled architectures of one (space, task) and correlate them with accuracy: a one-column study.
    With `out`, the directory is checked to be writable before any scoring and the run is written there."""
    get_protocol(protocol)
    options = dict(options or {})
    for name in options:
        if name not in metrics:
            raise SwapbenchError(f"option given for proxy '{name}', which is not in --proxies")
    spec = StudyConfig(
        name=f"{space}-{task}", columns=[Column(space=space, task=task, truth=truth, arch_column=arch_column,
                                                acc_column=acc_column, batch_size=batch_size)],
        proxies=list(metrics), seeds=list(seeds), n_archs=n_archs, protocol=protocol, batch_policy=batch_policy,
        repeats=repeats, options=options, device=device, cache=cache,
        description=f"correlate {space}/{task}")
    if not spec.proxies:
        raise SwapbenchError("no proxies given; pass --proxies swap,reg_swap (see `swapbench proxies`)")
    if n_archs < 3:
        raise SwapbenchError(f"--n-archs must be at least 3 to compute a rank correlation (got {n_archs})")
    if not spec.seeds:
        raise SwapbenchError("no seeds given; pass e.g. --seeds 0-4")
    run = RunOptions(limit_archs=limit_archs, data_dir=data_dir, threads=(exec_options or ExecOptions()).threads,
                     execution=exec_options or ExecOptions())
    return _finish(Result(run_study(spec, run, display, command, kind="correlate", ready=_check_out(out))), out)


def _check_out(out: str | Path | None) -> Any:
    """After the inputs are checked, before scoring: the output directory must take files."""
    return None if out is None else (lambda: writable_dir(Path(out)))


def validate(space: str, task: str, metrics: Sequence[str] | None = None, *, n_archs: int = 1000, seed: int = 0,
             protocol: str = "nbsz", device: str = "auto", data_dir: str | None = None, cache: str | None = None,
             exec_options: ExecOptions | None = None, display: Display | None = None, command: str | None = None,
             out: str | Path | None = None) -> tuple[Result, pd.DataFrame]:
    """Our scores against the scores NAS-Bench-Suite-Zero stores for the same architectures (every stored
    metric we implement, by default): a correlate run on the NB-SZ table plus the comparison table."""
    from swapbench.proxies import list_proxies
    from swapbench.study.validate import compare_stored, stored_frame

    probe = plan_run(CorrelateConfig(space=space, task=task, proxies=["params"], n_archs=3, seeds=[seed],
                                     data_dir=data_dir, device=device))
    available = [m for m in list_proxies() if m in probe.truth.stored]
    if not available:
        raise SwapbenchError(f"the ground truth of {space}/{task} stores no metric scores to validate against")
    names = list(metrics or available)
    missing = [m for m in names if m not in available]
    if missing:
        raise SwapbenchError(f"no stored scores for {', '.join(missing)} in {space}/{task}; stored: "
                             f"{', '.join(available)}")
    result = correlate(space, task, names, n_archs=n_archs, seeds=[seed], protocol=protocol, device=device,
                       data_dir=data_dir, cache=cache, exec_options=exec_options, display=display,
                       command=command, out=out)
    result.meta["kind"] = "validate"
    stored = stored_frame(probe.truth, names)
    if out is None:
        return result, compare_stored(result.scores, stored)
    from swapbench.report.tables import write_json
    from swapbench.report.validate import write_validation

    write_json(result.meta, Path(out) / "run.json")
    return result, write_validation(result.scores, stored, Path(out), f"{space}-{task}: agreement with the stored "
                                                                     "scores")


def _finish(result: Result, out: str | Path | None) -> Result:
    if out is not None:
        result.files = result.write(out)
    return result


def load(config: str | Path | StudyConfig, columns: str | None = None, metrics: str | None = None,
         protocol: str | None = None) -> StudyConfig:
    """A study config from a TOML path (or as given), narrowed to some columns/metrics, under a protocol."""
    spec = config if isinstance(config, StudyConfig) else load_study(config)
    spec = select_proxies(select_columns(spec, columns), metrics)
    return replace(spec, protocol=get_protocol(protocol).name) if protocol else spec


def study(config: str | Path | StudyConfig, *, limit_archs: int | None = None, seeds: Sequence[int] | None = None,
          columns: str | None = None, metrics: str | None = None, protocol: str | None = None,
          reference: str | None = None, device: str | None = None, data_dir: str | None = None,
          cache: str | None = None, exec_options: ExecOptions | None = None, display: Display | None = None,
          command: str | None = None, out: str | Path | None = None) -> Result:
    """Run a study (columns x metrics x seeds) from a TOML config or a StudyConfig; with `out`, write it there
    (default for the CLI: the config's `out`)."""
    spec = load(config, columns, metrics, protocol)
    reference = reference or spec.reference
    if reference and not Path(reference).is_file():
        raise SwapbenchError(f"reference table {reference} not found")
    exec_options = exec_options or ExecOptions()
    run = RunOptions(limit_archs=limit_archs, seeds=list(seeds) if seeds else None, data_dir=data_dir,
                     device=device, threads=exec_options.threads, cache=cache, execution=exec_options)
    return _finish(Result(run_study(spec, run, display, command, kind="study", ready=_check_out(out)), reference),
                   out)


@dataclass
class Regression:
    """A rerun of a stored study: `moved` lists the cells beyond the tolerance (empty: passed)."""

    stored: pd.DataFrame
    result: Result
    tolerance: float
    moved: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def passed(self) -> bool:
        return len(self.moved) == 0

    @property
    def largest_delta(self) -> float:
        keys = ["space", "task", "proxy"]
        delta = (self.result.summary.set_index(keys)["spearman_mean"]
                 - self.stored.set_index(keys)["spearman_mean"]).abs().max()
        return 0.0 if delta != delta else float(delta)


def regress(results_dir: str | Path, *, tolerance: float = 0.02, cache: str | None = None,
            data_dir: str | None = None, protocol: str | None = None, exec_options: ExecOptions | None = None,
            display: Display | None = None, command: str | None = None) -> Regression:
    """Rerun a stored study's exact config (with a fresh cache unless `cache` is given, so a changed metric
    is noticed) and compare every cell with the stored summary."""
    import tempfile

    if tolerance < 0:
        raise SwapbenchError("--tolerance must be >= 0")
    spec, run, stored = load_stored(results_dir)
    spec = load(spec, protocol=protocol)
    # CPU results can depend on the thread count in the last bits: rerun with the stored one by default
    exec_options = exec_options or ExecOptions()
    if exec_options.threads is None and run.get("threads"):
        exec_options = replace(exec_options, threads=run["threads"])
    with tempfile.TemporaryDirectory(prefix="swapbench-regress-") as tmp:
        options = RunOptions(limit_archs=run.get("limit_archs"), seeds=run.get("seeds"), data_dir=data_dir,
                             threads=exec_options.threads, cache=cache or str(Path(tmp) / "cache.sqlite"),
                             execution=exec_options)
        result = Result(run_study(replace(spec, cache=None), options, display, command, kind="regress"))
    return Regression(stored, result, tolerance, moved_cells(stored, result.summary, tolerance))


def import_scores(run_dirs: Iterable[str | Path], cache: str | None = None) -> tuple[Path, list[Imported]]:
    """Put the scores of stored runs into the score cache (default: the shared one), so that a study or
    correlate run resumes from what a committed run computed; returns the cache path and, per run, what
    it gave. A score the cache holds already is kept."""
    path = Path(cache) if cache else default_cache()
    dirs = [Path(d) for d in run_dirs]
    if not dirs:
        raise SwapbenchError("no run directory given")
    found = [stored_rows(d) for d in dirs]  # every directory is checked before the cache is touched
    store = ScoreCache(path)
    try:
        return path, [Imported(d, len(rows), store.put_missing(rows) if rows else 0, notices)
                      for d, (rows, notices) in zip(dirs, found, strict=True)]
    finally:
        store.close()


def rerender(run_dir: str | Path, reference: str | None = None) -> dict[str, Any]:
    """Re-render every table and figure of a stored run directory from its scores (no rescoring)."""
    from swapbench.report.rerender import rerender

    return rerender(Path(run_dir), reference)


def _run_options(exec_options: ExecOptions | None) -> RunOptions:
    exec_options = exec_options or ExecOptions()
    return RunOptions(threads=exec_options.threads, execution=exec_options)


def ablation_input_size(config: Any, *, exec_options: ExecOptions | None = None, display: Display | None = None,
                        command: str | None = None, out: str | Path | None = None) -> tuple[Result, pd.DataFrame]:
    """The paper's Table 3 (an `ablation.InputSizeConfig`): the run and its table; written to `out` if given."""
    from swapbench.report.ablation import write_input_size
    from swapbench.study.ablation import plan_input_size, run_input_size

    iplan = plan_input_size(config)
    if out is not None:
        writable_dir(Path(out))
    result = Result(run_input_size(iplan, _run_options(exec_options), display, command))
    table = write_input_size(result.run, Path(out)) if out is not None else None
    if table is None:
        from swapbench.study.ablation import input_size_scores, input_size_table

        table = input_size_table(input_size_scores(result.scores, result.meta["ablation"]))
    return result, table


def ablation_regularisation(config: Any, *, exec_options: ExecOptions | None = None,
                            display: Display | None = None, command: str | None = None,
                            out: str | Path | None = None) -> tuple[Result, pd.DataFrame]:
    """The paper's Tables 4-6 (an `ablation.RegularisationConfig`): the run and its grid table."""
    from swapbench.report.ablation import write_regularisation
    from swapbench.study.ablation import (
        apply_grid,
        grid_rows,
        grid_table,
        plan_regularisation,
        regularisation_scores,
        run_regularisation,
    )

    rplan = plan_regularisation(config)
    if out is not None:
        writable_dir(Path(out))
    result = Result(run_regularisation(rplan, _run_options(exec_options), display, command))
    if out is not None:
        return result, write_regularisation(result.run, Path(out))
    info = result.meta["ablation"]
    per_arch = regularisation_scores(result.scores, info["group_seeds"])
    return result, grid_table(apply_grid(per_arch, grid_rows(info), config.forms))


def search(config: Any, *, display: Display | None = None, command: str | None = None,
           out: str | Path | None = None) -> tuple[Any, pd.DataFrame]:
    """SWAP-NAS search (a `search.SearchConfig`), resumable through the cache: the run and its summary."""
    from swapbench.report.search import search_title, write_search
    from swapbench.report.tables import write_json
    from swapbench.search import plan_search, run_search, summarise_search
    from swapbench.study.cache import ScoreCache
    from swapbench.study.config import default_cache
    from swapbench.study.engine import Silent

    display = display or Silent()
    splan = plan_search(config)
    if out is not None:
        writable_dir(Path(out))
    for notice in splan.notices:
        display.notice(notice)
    store = ScoreCache(Path(config.cache) if config.cache else default_cache())
    try:
        with display.track_growing(f"search {config.space}/{config.task}", splan.max_evaluations()) as advance:
            run = run_search(splan, store, advance)
    finally:
        store.close()
    if out is not None:
        write_search(run, summarise_search(run.results), search_title(config.to_dict()), Path(out))
        write_json(dict(kind="search", command=command, config=config.to_dict(), cache_key=splan.key,
                        metric_options=splan.plan.options[splan.spec.name], batch_size=splan.plan.batch_size,
                        truth=None if splan.truth is None else dict(name=splan.truth.name,
                                                                    source=splan.truth.source),
                        notices=splan.notices, timings=run.stats), Path(out) / "run.json")
    return run, summarise_search(run.results)


def size_control(config: Any, *, display: Display | None = None, command: str | None = None,
                 out: str | Path | None = None) -> tuple[pd.DataFrame, Any, dict[str, Any]]:
    """The paper's Fig. 5 (a `search.size_control.SizeControlConfig`): found sizes, random sizes, summary."""
    from swapbench.report.search import size_control_figure, size_control_markdown
    from swapbench.report.tables import atomic_write, write_csv, write_json
    from swapbench.search.size_control import size_control as run_size_control
    from swapbench.study.cache import ScoreCache
    from swapbench.study.config import default_cache
    from swapbench.study.engine import Silent

    display = display or Silent()
    total = len(config.grid()) * len(config.seeds) * config.evolution.max_evaluations()
    if out is not None:
        writable_dir(Path(out))
    store = ScoreCache(Path(config.cache) if config.cache else default_cache())
    try:
        with display.track_growing(f"size control {config.space}/{config.task}", total) as advance:
            found, sizes, summary = run_size_control(config, store, advance)
    finally:
        store.close()
    if out is not None:
        directory = Path(out)
        write_csv(found, directory / "found.csv")
        write_csv(pd.DataFrame({"size": sizes}), directory / "random_sizes.csv")
        title = f"{config.space}/{config.task}: Spearman(μ, found size) = {summary['spearman_mu_size']:.3f}"
        size_control_figure(found, sizes, summary["unit"], title, directory / "size_control")
        atomic_write(directory / "summary.md", size_control_markdown(summary, config.space, config.task))
        write_json(dict(kind="size-control", command=command, config=config.to_dict(), summary=summary),
                   directory / "run.json")
    return found, sizes, summary
