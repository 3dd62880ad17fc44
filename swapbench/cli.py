"""Command-line interface (thin: parsing and printing; the work lives in the packages)."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from swapbench.errors import SwapbenchError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Score untrained NAS-benchmark networks with training-free metrics and correlate "
                       "the scores with ground-truth accuracy.")
data_app = typer.Typer(no_args_is_help=True, help="The benchmark data directory.")
app.add_typer(data_app, name="data")
cache_app = typer.Typer(no_args_is_help=True, help="The score cache.")
app.add_typer(cache_app, name="cache")

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


# --------------------------------------------------------------------------------------------
# argument parsing helpers


MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """'0-4' or '0,2,5' or '3': non-negative, distinct, at most MAX_SEEDS of them."""
    usage = f"bad --seeds {text!r}; use non-negative seeds: a range like 0-4 or a list like 0,1,2"
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi if dash else lo)
        except ValueError:
            raise SwapbenchError(usage) from None
        if first > last:
            raise SwapbenchError(f"bad --seeds range {part!r}: {first} > {last}")
        if last - first + 1 + len(seeds) > MAX_SEEDS:
            raise SwapbenchError(f"--seeds {text!r} asks for more than {MAX_SEEDS} seeds")
        seeds.extend(range(first, last + 1))
    if not seeds:
        raise SwapbenchError(usage)
    if len(set(seeds)) != len(seeds):
        raise SwapbenchError(f"--seeds {text!r} names a seed twice")
    return seeds


def parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_options(items: list[str]) -> dict[str, dict[str, Any]]:
    """--option swap.repeats=8 --option reg_swap.form=code"""
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        name, eq, value = item.partition("=")
        proxy, dot, key = name.partition(".")
        if not eq or not dot or not proxy or not key:
            raise SwapbenchError(f"bad --option {item!r}; use PROXY.KEY=VALUE, e.g. reg_swap.form=code")
        options.setdefault(proxy, {})[key] = parse_value(value)
    return options


def parse_proxies(text: str) -> list[str]:
    from swapbench.proxies import list_proxies

    if text.strip() == "all":
        return list_proxies()
    from swapbench.study.config import check_metric

    return [check_metric(p.strip()) for p in text.split(",") if p.strip()]


PROTOCOL_HELP = "named settings: paper, swap-official or nbsz (see `swapbench protocols`); flags override it"


WORKERS_HELP = "parallel workers (default 1; with --device cuda, one per visible GPU)"
WPG_HELP = "worker processes per visible GPU with --device cuda (small networks leave a big card idle)"
BACKEND_HELP = "local (this process), process (--workers processes) or ray (a Ray cluster)"


def exec_options(backend: str | None, workers: int | None, threads: int | None, ray_address: str | None,
                 workers_per_gpu: int | None = None, checkpointing: str = "auto"):
    """--backend defaults to `process` when --workers > 1 (or --workers-per-gpu) is given, else `local`."""
    from swapbench.api import execution

    return execution(backend, workers, threads, ray_address, workers_per_gpu, checkpointing)


def command_line() -> str:
    return "swapbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def display():
    """The engine's progress display on stderr (swapbench.report.progress)."""
    from swapbench.report.progress import ConsoleDisplay

    return ConsoleDisplay(err)


CACHE_HELP = "score cache shared by every command (default: $SWAPBENCH_CACHE, else runs/cache.sqlite)"
DOWNLOAD_HELP = "first fetch the data the run needs and the data dir lacks (from $SWAPBENCH_MIRROR when set)"

# Options that mean the same in every command that takes them: defined once, so a help text or a bound
# cannot drift between commands.
DEVICE = typer.Option("auto", "--device", help="auto, cpu or cuda")
DATA_DIR = typer.Option(None, "--data-dir", help="benchmark data dir (default: see `data status`)")
CACHE = typer.Option(None, "--cache", help=CACHE_HELP)
THREADS = typer.Option(None, "--threads", min=1, help="CPU threads for torch (per worker)")
WORKERS = typer.Option(None, "--workers", min=1, help=WORKERS_HELP)
WORKERS_PER_GPU = typer.Option(None, "--workers-per-gpu", min=1, help=WPG_HELP)
BACKEND = typer.Option(None, "--backend", help=BACKEND_HELP)
RAY_ADDRESS = typer.Option(None, "--ray-address", help="Ray cluster address (default: a local instance)")
DOWNLOAD = typer.Option(False, "--download", help=DOWNLOAD_HELP)
CHECKPOINTING = typer.Option("auto", "--checkpointing", help="auto, on or off: recompute network blocks in the "
                             "backwards to save memory (TransNAS-Bench-101; auto: on); same scores, grasp's to "
                             "float rounding")
BATCH_SIZE = typer.Option(None, "--batch-size", min=1, help="images per batch (default: the task's)")
# the evolutionary search's settings (paper Algorithm 1), shared by `search` and `ablation size-control`
POPULATION = typer.Option(20, "--population", min=2, help="population size P")
CYCLES = typer.Option(20, "--cycles", min=1, help="search cycles C")
MUTATION_TIMES = typer.Option(5, "--mutation-times", min=1, help="mutated children per cycle")
CROSSOVER_PROB = typer.Option(0.5, "--crossover-prob", min=0.0, max=1.0, help="chance per cycle that the parent is "
                              "the better child of a crossover of the two best candidates")


def download_for(columns: list[tuple[str, str, str | None]], proxies: list[str], data_dir: str | None) -> None:
    """--download: fetch what the (space, task, truth) columns read and the data dir cannot serve."""
    from swapbench.data.datadir import resolve_data_dir
    from swapbench.data.download import terminal_progress
    from swapbench.data.fetch import FetchOptions, ensure, run_needs

    target = resolve_data_dir(data_dir, must_exist=False)
    needs = [need for space, task, truth in columns for need in run_needs(space, task, truth, proxies)]
    ensure(needs, target, FetchOptions(progress=terminal_progress,
                                       log=lambda s: err.print(s, markup=False, highlight=False)))


# --------------------------------------------------------------------------------------------
# commands


@app.command()
def correlate(
    space: str = typer.Option(..., "--space", help="search space (see `swapbench spaces`)"),
    task: str = typer.Option(..., "--task", help="task / dataset of the space"),
    proxies: str = typer.Option("swap,reg_swap", "--proxies", help="comma-separated metrics, or 'all'"),
    n_archs: int = typer.Option(1000, "--n-archs", min=3, help="architectures per seed (capped at the truth table)"),
    seeds: str = typer.Option("0-4", "--seeds", help="seeds, e.g. 0-4 or 0,3"),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="images per batch (default: 64; 32 for TNB101)"),
    protocol: str = typer.Option("paper", "--protocol", help=PROTOCOL_HELP),
    batch_policy: str = typer.Option(None, "--batch-policy", help="fixed (one batch per seed), per-arch or first "
                                                                  "(default: the protocol's)"),
    repeats: int = typer.Option(None, "--repeats", min=1, help="repeats of metrics that average over re-inits (swap)"),
    option: list[str] = typer.Option([], "--option", help="metric option PROXY.KEY=VALUE (repeatable)"),
    truth: str = typer.Option(None, "--truth", help="ground truth: nbsz (default), a built-in name, or a CSV"),
    arch_column: str = typer.Option(None, "--arch-column", help="architecture column of a truth CSV"),
    acc_column: str = typer.Option(None, "--acc-column", help="accuracy column of a truth CSV"),
    device: str = DEVICE,
    data_dir: str = DATA_DIR,
    out_dir: str = typer.Option(None, "--out", help="output dir (default: runs/SPACE-TASK)"),
    cache: str = CACHE,
    threads: int = THREADS,
    workers_per_gpu: int = WORKERS_PER_GPU,
    workers: int = WORKERS,
    backend: str = BACKEND,
    ray_address: str = RAY_ADDRESS,
    download: bool = DOWNLOAD,
    checkpointing: str = CHECKPOINTING,
) -> None:
    """Score sampled architectures and correlate the scores with ground-truth accuracy."""
    if download:
        download_for([(space, task, truth)], parse_proxies(proxies), data_dir)
    import swapbench.api as api
    from swapbench.report.tables import rich_table, summary_view

    directory = out_dir or f"runs/{space}-{task}"
    result = api.correlate(
        space, task, parse_proxies(proxies), n_archs=n_archs, seeds=parse_seeds(seeds), protocol=protocol,
        batch_size=batch_size, batch_policy=batch_policy, repeats=repeats, options=parse_options(option),
        truth=truth, arch_column=arch_column, acc_column=acc_column, device=device, data_dir=data_dir, cache=cache,
        exec_options=exec_options(backend, workers, threads, ray_address, workers_per_gpu, checkpointing),
        display=display(), command=command_line(), out=directory)
    title = f"{space} / {task}, protocol {protocol}: Spearman and Kendall over {len(parse_seeds(seeds))} seed(s)"
    out.print(rich_table(summary_view(result.summary.drop(columns=["space", "task"])), title))
    print_done(result, directory)


def print_done(result, directory) -> None:
    ex = result.meta.get("execution") or {}
    reused = sum(c["reused"] for c in result.meta["columns"])
    where = f" ({ex.get('backend')}, {ex.get('workers')} worker(s))" if result.computed else ""
    out.print(f"computed {result.computed} scores, reused {reused} from the cache in "
              f"{ex.get('wall_seconds', 0.0):.1f}s{where}; results in {directory}/")


@app.command()
def study(
    config: str = typer.Argument(..., help="study config (TOML), e.g. configs/fig4.toml"),
    limit_archs: int = typer.Option(None, "--limit-archs", min=3, help="first N sampled archs per seed (quick runs)"),
    seeds: str = typer.Option(None, "--seeds", help="override the config's seeds, e.g. 0 or 0-4"),
    columns: str = typer.Option(None, "--columns", help="run only these columns or spaces, e.g. nb201/cifar10,nb101"),
    proxies: str = typer.Option(None, "--proxies", help="run only these of the config's metrics, e.g. swap,reg_swap"),
    protocol: str = typer.Option(None, "--protocol", help=PROTOCOL_HELP + " (default: the config's, else paper)"),
    out_dir: str = typer.Option(None, "--out", help="output dir (default: the config's `out`, or runs/study-NAME)"),
    cache: str = typer.Option(None, "--cache", help="score cache (default: the config's, else $SWAPBENCH_CACHE, "
                                                    "else runs/cache.sqlite)"),
    reference: str = typer.Option(None, "--reference", help="reference CSV (proxy,space,task,spearman) to diff"),
    device: str = typer.Option(None, "--device", help="auto, cpu or cuda (default: the config's)"),
    data_dir: str = DATA_DIR,
    threads: int = THREADS,
    workers_per_gpu: int = WORKERS_PER_GPU,
    workers: int = WORKERS,
    backend: str = BACKEND,
    ray_address: str = RAY_ADDRESS,
    download: bool = DOWNLOAD,
    checkpointing: str = CHECKPOINTING,
) -> None:
    """Run a whole study (columns x metrics x seeds) from a TOML config: tables, heatmap, diff vs reference."""
    import swapbench.api as api
    from swapbench.report.heatmap import order_by_mean, pivot
    from swapbench.report.tables import rich_table

    spec = api.load(config, columns, proxies, protocol)
    if download:
        download_for([(c.space, c.task, c.truth) for c in spec.columns], spec.proxies, data_dir)
    directory = out_dir or spec.out or f"runs/study-{spec.name}"
    result = api.study(spec, limit_archs=limit_archs, seeds=parse_seeds(seeds) if seeds else None,
                       reference=reference, device=device, data_dir=data_dir, cache=cache,
                       exec_options=exec_options(backend, workers, threads, ray_address, workers_per_gpu,
                                                 checkpointing),
                       display=display(), command=command_line(), out=directory)
    table = order_by_mean(pivot(result.summary))
    table.columns = [f"{s}/{t}" for s, t in table.columns]
    table.insert(0, "metric", table.index)
    out.print(rich_table(table.reset_index(drop=True), f"{spec.name}, protocol {spec.protocol}: Spearman ρ "
                         "(mean over seeds)", digits=2))
    if "cells" in result.files:
        f = result.files
        out.print(f"versus {Path(result.reference).name}: {f['reproduced']} of {f['cells']} cells reproduced "
                  f"(inside our 95 % interval), {f['within']} within ±0.05")
    print_done(result, directory)


@app.command()
def regress(
    results_dir: str = typer.Argument(..., help="a stored study output (run.json + summary.csv), e.g. results/ci"),
    tolerance: float = typer.Option(0.02, "--tolerance", min=0.0, help="largest allowed |Δ Spearman| per cell"),
    cache: str = typer.Option(None, "--cache", help="reuse this score cache (default: a fresh one, so changed "
                                                    "metric code is noticed)"),
    out_dir: str = typer.Option(None, "--out", help="keep the rerun's outputs here (default: a temp dir)"),
    data_dir: str = DATA_DIR,
    threads: int = THREADS,
    workers: int = WORKERS,
    backend: str = BACKEND,
    protocol: str = typer.Option(None, "--protocol", help="rerun under this protocol instead of the stored one"),
) -> None:
    """Rerun a stored study and exit 1 if any cell moved beyond the tolerance (0 if none did)."""
    import swapbench.api as api
    from swapbench.report.tables import rich_table

    check = api.regress(results_dir, tolerance=tolerance, cache=cache, data_dir=data_dir, protocol=protocol,
                        exec_options=exec_options(backend, workers, threads, None), display=display(),
                        command=command_line())
    if out_dir:
        check.result.write(out_dir, scores=False)
    if not check.passed:
        out.print(rich_table(check.moved, f"{len(check.moved)} cell(s) moved beyond ±{tolerance:g}", digits=4))
        sys.stderr.write(f"regression: {len(check.moved)} of {len(check.stored)} cells of {results_dir} moved "
                         f"beyond ±{tolerance:g}\n")
        raise typer.Exit(1)
    out.print(f"regression passed: all {len(check.stored)} cells of {results_dir} within ±{tolerance:g} "
              f"(largest |Δ| {check.largest_delta:.4f})")


@app.command()
def validate(
    space: str = typer.Option(..., "--space", help="search space with a NAS-Bench-Suite-Zero table"),
    task: str = typer.Option(..., "--task", help="task / dataset of the space"),
    metrics: str = typer.Option(None, "--metrics", help="comma-separated (default: every stored metric we have)"),
    n_archs: int = typer.Option(1000, "--n-archs", min=3, help="architectures (capped at the table)"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the sample, the batches and the inits"),
    protocol: str = typer.Option("nbsz", "--protocol", help=PROTOCOL_HELP),
    device: str = DEVICE,
    data_dir: str = DATA_DIR,
    out_dir: str = typer.Option(None, "--out", help="output dir (default: runs/validate-SPACE-TASK)"),
    cache: str = CACHE,
    threads: int = THREADS,
    workers: int = WORKERS,
    backend: str = BACKEND,
    checkpointing: str = CHECKPOINTING,
) -> None:
    """Our metrics against the scores NAS-Bench-Suite-Zero stores for the same architectures."""
    import swapbench.api as api
    from swapbench.report.tables import rich_table

    directory = out_dir or f"runs/validate-{space}-{task}"
    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    result, table = api.validate(space, task, names, n_archs=n_archs, seed=seed, protocol=protocol, device=device,
                                 data_dir=data_dir, cache=cache,
                                 exec_options=exec_options(backend, workers, threads, None, None, checkpointing),
                                 display=display(), command=command_line(), out=directory)
    out.print(rich_table(table.drop(columns=["seed"]), f"{space}/{task}: ours vs the stored scores, protocol "
                                                       f"{protocol}"))
    print_done(result, directory)


@app.command("report")
def report_cmd(
    run_dir: str = typer.Argument(..., help="a run directory (run.json and scores), e.g. results/ci"),
    reference: str = typer.Option(None, "--reference", help="reference CSV (proxy,space,task,spearman) to diff"),
) -> None:
    """Re-render every table and figure of a stored run from its scores, without rescoring."""
    import swapbench.api as api

    info = api.rerender(run_dir, reference)
    for path in info.get("written", []):
        out.print(f"  {path}", markup=False, highlight=False)
    out.print(f"re-rendered {info.get('kind', 'run')} in {run_dir}/ from its stored scores", markup=False,
              highlight=False)


@cache_app.command("import")
def cache_import(
    run_dirs: list[str] = typer.Argument(..., help="stored runs (run.json + scores.csv.gz), e.g. results/fig4*"),
    cache: str = typer.Option(None, "--cache", help="score cache to fill (default: $SWAPBENCH_CACHE, else "
                                                    "runs/cache.sqlite)"),
) -> None:
    """Put the scores of stored runs into the score cache, so a run resumes from what they computed (the
    cache is never committed; results are)."""
    import swapbench.api as api

    path, imported = api.import_scores(run_dirs, cache=cache)
    for item in imported:
        for notice in item.notices:
            err.print(f"notice: {notice}", markup=False, highlight=False)
        out.print(f"{item.directory}: {item.rows} scores, {item.added} new", markup=False, highlight=False)
    out.print(f"score cache {path}: {sum(i.added for i in imported)} scores added", markup=False, highlight=False)


@app.command("proxies")
def list_proxies_cmd() -> None:
    """List the registered metrics."""
    import pandas as pd

    from swapbench.proxies import PROXIES
    from swapbench.report.tables import rich_table

    rows = [dict(name=p.name, source=PROXIES.source(p.name), labels="yes" if p.needs_labels else "no",
                 grad="yes" if p.needs_grad else "no",
                 direction="higher" if p.direction > 0 else "lower",
                 options=", ".join(f"{k}={v}" for k, v in p.options.items()), description=p.description)
            for p in PROXIES]
    out.print(rich_table(pd.DataFrame(rows), "training-free metrics"))


@app.command("protocols")
def list_protocols_cmd() -> None:
    """List the named protocols and what each sets."""
    import pandas as pd

    from swapbench.report.tables import rich_table
    from swapbench.study.protocols import PROTOCOLS

    rows = [dict(name=p.name, batch=p.batch_size or "task's (64; 32 TNB101)", policy=p.batch_policy,
                 options="; ".join(f"{m}: " + ", ".join(f"{k}={v}" for k, v in o.items())
                                   for m, o in p.proxy_options.items()) or "-",
                 description=p.description) for p in PROTOCOLS.values()]
    out.print(rich_table(pd.DataFrame(rows), "protocols"))


@app.command("spaces")
def list_spaces_cmd(data_dir: str = typer.Option(None, "--data-dir")) -> None:
    """List the search spaces, their tasks and ground truth."""
    import pandas as pd

    from swapbench.data.benchmarks import truth_names
    from swapbench.proxies.priors import reg_swap_prior
    from swapbench.report.tables import rich_table
    from swapbench.spaces import SPACES

    rows = []
    for sp in SPACES:
        for task, info in sp.tasks.items():
            prior = reg_swap_prior(sp, task)
            rows.append(dict(space=sp.name, source=SPACES.source(sp.name), task=task,
                             input="x".join(map(str, info.input_shape)), batch=info.default_batch_size,
                             truth=", ".join(truth_names(sp)), reg_mu_sigma=prior if prior is not None else "-"))
    out.print(rich_table(pd.DataFrame(rows), "search spaces"))


@app.command("lswag-band")
def lswag_band(
    space: str = typer.Option(..., "--space"),
    task: str = typer.Option(..., "--task"),
    n_networks: int = typer.Option(100, "--n-networks", min=2, help="networks sampled from the space"),
    seed: int = typer.Option(0, "--seed"),
    batch_size: int = typer.Option(None, "--batch-size"),
    data_dir: str = typer.Option(None, "--data-dir"),
    band_file: str = typer.Option(None, "--band-file", help="band file (default $SWAPBENCH_HOME/lswag_bands.toml, "
                                  "else $XDG_DATA_HOME/swapbench/, else ~/.local/share/swapbench/)"),
) -> None:
    """Select L-SWAG's layer band label-free (gradient statistics of sampled networks) and store it."""
    from swapbench.proxies.priors import user_band_file
    from swapbench.study.lswag_band import select_band

    if n_networks < 2:
        raise SwapbenchError("--n-networks must be at least 2")
    target = Path(band_file) if band_file else user_band_file()
    with display().track([f"lswag band {space}/{task}"], [n_networks]) as advance:
        entry = select_band(space, task, n_networks=n_networks, seed=seed, data_dir=data_dir,
                            batch_size=batch_size, progress=lambda k: advance(0, k), band_file=target)
    out.print(entry)
    out.print(f"band [{entry['p_lo']}, {entry['p_hi']}] of {entry['space']}/{task} stored in {target}")


@data_app.command("status")
def data_status(data_dir: str = typer.Option(None, "--data-dir")) -> None:
    """Per data source: present / partial / unverified / substitute / missing and the command that fetches it;
    then every benchmark table and image set found in the data dir."""
    from swapbench.data.datadir import resolve_data_dir
    from swapbench.data.inventory import inventory, sources_frame
    from swapbench.report.tables import rich_table

    path = resolve_data_dir(data_dir, must_exist=False)
    out.print(f"data dir: {path}" + ("" if path.is_dir() else " (does not exist yet)"))
    out.print(rich_table(sources_frame(path), "data sources"))
    if path.is_dir():
        try:
            out.print(rich_table(inventory(path), "benchmark data"))
        except SwapbenchError:
            pass  # nothing found: the sources table says what to fetch


@data_app.command("use")
def data_use(path: str) -> None:
    """Record PATH as this installation's default data dir."""
    from swapbench.data.datadir import record_data_dir

    target = Path(path).expanduser()
    if not target.is_dir():
        raise SwapbenchError(f"{target} is not a directory")
    file = record_data_dir(target)
    out.print(f"default data dir: {target.resolve()} (recorded in {file})")


@data_app.command("fetch")
def data_fetch(
    sources: list[str] = typer.Argument(None, help="nbsz, cifar10, cifar100, imagenet16, nb201, or all (default)"),
    data_dir: str = typer.Option(None, "--data-dir", help="where to put the data (default: see `data status`)"),
    mirror: str = typer.Option(None, "--mirror", help="base URL (http, https or file) holding every file under its "
                               "canonical name; default $SWAPBENCH_MIRROR, else the canonical sources"),
    accept_unverified: bool = typer.Option(False, "--accept-unverified", help="keep a mirror's file whose "
                                           "checksum differs from the published one, flagged unverified"),
    nats: str = typer.Option(None, "--nats", help="NATS-Bench topology benchmark (NATS-tss-v1_0-3ffb9-simple/) "
                             "to convert for nb201"),
    force: bool = typer.Option(False, "--force", help="fetch again what is already present"),
    retries: int = typer.Option(3, "--retries", help="resumed retries when a transfer breaks off"),
) -> None:
    """Download, verify and place benchmark data (resumable; a failed fetch leaves nothing that looks complete)."""
    from swapbench.data.datadir import resolve_data_dir
    from swapbench.data.download import terminal_progress
    from swapbench.data.fetch import FetchOptions, fetch

    target = resolve_data_dir(data_dir, must_exist=False)
    out.print(f"data dir: {target}", markup=False, highlight=False)
    options = FetchOptions(mirror=mirror, accept_unverified=accept_unverified, nats=nats, force=force,
                           retries=retries, progress=terminal_progress,
                           log=lambda s: out.print(s, markup=False, highlight=False))
    results = fetch(sources or ["all"], target, options)
    fetched = [r for r in results if r.action != "skipped"]
    out.print(f"{len(fetched)} fetched, {len(results) - len(fetched)} already present; "
              "`swapbench data status` shows the data dir", markup=False, highlight=False)


# --------------------------------------------------------------------------------------------
# ablations of the SWAP-NAS paper (logic in swapbench.study.ablation)

ablation_app = typer.Typer(no_args_is_help=True,
                           help="The paper's ablations: input size (Table 3) and the size regulariser (Tables 4-6).")
app.add_typer(ablation_app, name="ablation")


def _number_list(text: str, option: str, cast: type = float) -> list:
    """'3,15,32' -> [3, 15, 32]; a bad item is a one-line input error."""
    try:
        values = [cast(p.strip()) for p in text.split(",") if p.strip()]
    except ValueError:
        raise SwapbenchError(f"bad {option} {text!r}; use a comma-separated list like 3,15,32") from None
    if not values:
        raise SwapbenchError(f"{option} is empty")
    return values


@ablation_app.command("input-size")
def ablation_input_size(
    space: str = typer.Option("nb201", "--space", help="search space"),
    task: str = typer.Option("cifar10", "--task", help="task / dataset of the space"),
    n_archs: int = typer.Option(1000, "--n-archs", min=3, help="architectures sampled from the truth table"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the sample, the batch, the crops and the inits"),
    sizes: str = typer.Option("3,15,32", "--sizes", help="input sizes (square), comma-separated"),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="images per batch (paper: 32)"),
    resize: str = typer.Option("crop", "--resize", help="crop (official SWAP code) or bilinear (antialiased)"),
    repeats: int = typer.Option(1, "--repeats", min=1, help="Gaussian re-initialisations averaged per count"),
    mu: float = typer.Option(None, "--mu", help="reg-SWAP mu, millions of params (default: the space's)"),
    sigma: float = typer.Option(None, "--sigma", help="reg-SWAP sigma (default: the space's)"),
    form: str = typer.Option("paper", "--form", help="regulariser form: paper or code"),
    truth: str = typer.Option(None, "--truth", help="ground truth (default: nb201-200ep-test for nb201, else nbsz)"),
    device: str = DEVICE,
    data_dir: str = DATA_DIR,
    out_dir: str = typer.Option("runs/ablation-input-size", "--out", help="output dir"),
    cache: str = CACHE,
    threads: int = THREADS,
    workers: int = WORKERS,
    backend: str = BACKEND,
) -> None:
    """Table 3: standard activation patterns |A| vs SWAP vs reg-SWAP at several input sizes."""
    import swapbench.api as api
    from swapbench.report.tables import rich_table
    from swapbench.study import ablation as ab

    config = ab.InputSizeConfig(
        space=space, task=task, n_archs=n_archs, seed=seed, sizes=_number_list(sizes, "--sizes", int),
        batch_size=batch_size, resize=resize, repeats=repeats, mu=mu, sigma=sigma, form=form, truth=truth,
        device=device, data_dir=data_dir, cache=cache)
    result, table = api.ablation_input_size(config, exec_options=exec_options(backend, workers, threads, None),
                                            display=display(), command=command_line(), out=out_dir)
    out.print(rich_table(table.drop(columns=["min", "max", "kendall"]), f"input-size ablation: {space}/{task}"))
    print_done(result, out_dir)


@ablation_app.command("regularisation")
def ablation_regularisation(
    space: str = typer.Option(..., "--space", help="search space (paper: nb101, nb201, nb301)"),
    task: str = typer.Option("cifar10", "--task", help="task / dataset of the space"),
    groups: int = typer.Option(5, "--groups", min=1, help="disjoint groups of architectures"),
    group_size: int = typer.Option(None, "--group-size", min=3, help="architectures per group (default: "
                                   "min(1000, available // groups))"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the groups; group k is scored with seed+k-1"),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="images per batch (default: the task's, 64)"),
    repeats: int = typer.Option(None, "--repeats", min=1, help="swap repeats (default: the metric's, 1)"),
    mus: str = typer.Option(None, "--mus", help="mu values (with --sigmas: their product is the grid; "
                            "default: the paper's rows)"),
    sigmas: str = typer.Option(None, "--sigmas", help="sigma values, millions of params"),
    forms: str = typer.Option("paper,code", "--forms", help="regulariser forms: paper, code or both"),
    truth: str = typer.Option(None, "--truth", help="ground truth (default: nb201-200ep-test for nb201, else nbsz)"),
    device: str = DEVICE,
    data_dir: str = DATA_DIR,
    out_dir: str = typer.Option(None, "--out", help="output dir (default: runs/ablation-reg-SPACE)"),
    cache: str = CACHE,
    threads: int = THREADS,
    workers: int = WORKERS,
    backend: str = BACKEND,
) -> None:
    """Tables 4-6: Spearman of reg-SWAP over a (mu, sigma) grid on disjoint groups, and the size histogram."""
    import swapbench.api as api
    from swapbench.report.tables import rich_table
    from swapbench.study import ablation as ab

    config = ab.RegularisationConfig(
        space=space, task=task, groups=groups, group_size=group_size, seed=seed, batch_size=batch_size,
        repeats=repeats, mus=_number_list(mus, "--mus") if mus else [],
        sigmas=_number_list(sigmas, "--sigmas") if sigmas else [],
        forms=[f.strip() for f in forms.split(",") if f.strip()], truth=truth, device=device, data_dir=data_dir,
        cache=cache)
    directory = out_dir or f"runs/ablation-reg-{space}"
    result, table = api.ablation_regularisation(config, exec_options=exec_options(backend, workers, threads, None),
                                                display=display(), command=command_line(), out=directory)
    info = result.meta["ablation"]
    cols = ["form", "block", "mu", "sigma", *[f"g{k}" for k in range(1, groups + 1)], "mean", "paper_mean"]
    out.print(rich_table(table[cols], f"regulariser ablation: {space}/{task}, {groups} groups of "
                                      f"{info['group_size']}"))
    print_done(result, directory)


# --------------------------------------------------------------------------------------------
# search (logic in swapbench.search)


@app.command()
def search(
    space: str = typer.Option(..., "--space", help="search space: nb201, nb101, nb301, darts, darts-swap"),
    task: str = typer.Option("cifar10", "--task", help="task / dataset of the space"),
    metric: str = typer.Option("reg_swap", "--metric", help="fitness: any registered metric (`swapbench proxies`)"),
    mu: float = typer.Option(None, "--mu", min=0.0, help="reg_swap mu in the space's size unit (default: the space's)"),
    sigma: float = typer.Option(None, "--sigma", min=0.0, help="reg_swap sigma (default: the space's)"),
    option: list[str] = typer.Option([], "--option", help="metric option METRIC.KEY=VALUE (repeatable)"),
    seeds: str = typer.Option("0", "--seeds", help="one search per seed, e.g. 0-4"),
    population: int = POPULATION,
    cycles: int = CYCLES,
    sample_size: int = typer.Option(None, "--sample-size", min=2, help="tournament size S (default: P // 2)"),
    mutation_times: int = MUTATION_TIMES,
    crossover_prob: float = CROSSOVER_PROB,
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="also random search with the same "
                                  "number of distinct evaluations"),
    batch_size: int = BATCH_SIZE,
    protocol: str = typer.Option("paper", "--protocol", help=PROTOCOL_HELP),
    batch_policy: str = typer.Option(None, "--batch-policy", help="fixed, per-arch or first (default: the protocol's)"),
    repeats: int = typer.Option(None, "--repeats", min=1, help="repeats of metrics that average over re-inits (swap)"),
    truth: str = typer.Option(None, "--truth", help="accuracy of the found archs (default: nb201-200ep-test on "
                              "nb201, else nbsz when present)"),
    device: str = DEVICE,
    data_dir: str = DATA_DIR,
    out_dir: str = typer.Option(None, "--out", help="output dir (default: runs/search-SPACE-TASK-METRIC)"),
    cache: str = CACHE,
    threads: int = THREADS,
) -> None:
    """SWAP-NAS evolutionary search (paper Algorithm 1) with a training-free fitness, resumable."""
    import swapbench.api as api
    from swapbench.report.tables import rich_table
    from swapbench.search import EvolutionConfig, SearchConfig

    directory = Path(out_dir or f"runs/search-{space}-{task}-{metric}")
    config = SearchConfig(
        space=space, task=task, metric=metric, mu=mu, sigma=sigma, proxy_options=parse_options(option),
        seeds=parse_seeds(seeds), evolution=EvolutionConfig(population, cycles, sample_size, mutation_times,
                                                            crossover_prob),
        baseline=baseline, protocol=protocol, batch_size=batch_size, batch_policy=batch_policy, repeats=repeats,
        truth=truth, device=device, data_dir=data_dir, out=str(directory), cache=cache, threads=threads,
    )
    run, summary = api.search(config, display=display(), command=command_line(), out=directory)
    title = f"{metric} search on {space}/{task}, {len(config.seeds)} seed(s)"
    cols = ["seed", "algorithm", "arch_str", "score", "size", "unique", "computed", "seconds", "accuracy"]
    out.print(rich_table(run.results[cols], title))
    out.print(rich_table(summary, "mean ± std over seeds (std in the *_std columns)"))
    out.print(f"computed {run.stats['computed']} scores, reused {run.stats['reused']} from the cache in "
              f"{run.stats['wall_seconds']:.1f}s; results in {directory}/")


@ablation_app.command("size-control")
def ablation_size_control(
    space: str = typer.Option("darts-swap", "--space", help="darts-swap (the paper's one-cell network, sizes in "
                              "thousands) or nb201 (millions)"),
    task: str = typer.Option("cifar10", "--task", help="task / dataset of the space"),
    mus: str = typer.Option(None, "--mus", help="mu = sigma grid (default: darts-swap 0.5..2.5 step 0.4; "
                            "nb201 0.2..1.4 step 0.3)"),
    seeds: str = typer.Option("0-4", "--seeds", help="one search per seed at every mu"),
    population: int = POPULATION,
    cycles: int = CYCLES,
    mutation_times: int = MUTATION_TIMES,
    crossover_prob: float = CROSSOVER_PROB,
    form: str = typer.Option("paper", "--form", help="regulariser form: paper or code"),
    n_random: int = typer.Option(1000, "--n-random", min=3, help="random models for the size histogram"),
    batch_size: int = BATCH_SIZE,
    repeats: int = typer.Option(None, "--repeats", min=1, help="swap repeats (default: the metric's, 1)"),
    device: str = DEVICE,
    data_dir: str = DATA_DIR,
    out_dir: str = typer.Option(None, "--out", help="output dir (default: runs/ablation-size-control-SPACE)"),
    cache: str = CACHE,
    threads: int = THREADS,
) -> None:
    """Fig. 5: the size of the architecture SWAP-NAS finds against reg-SWAP's mu = sigma."""
    import swapbench.api as api
    from swapbench.report.search import size_control_markdown
    from swapbench.search import EvolutionConfig
    from swapbench.search.size_control import SizeControlConfig

    directory = Path(out_dir or f"runs/ablation-size-control-{space}")
    config = SizeControlConfig(
        space=space, task=task, mus=_number_list(mus, "--mus") if mus else [], seeds=parse_seeds(seeds),
        evolution=EvolutionConfig(population, cycles, None, mutation_times, crossover_prob), form=form,
        n_random=n_random, batch_size=batch_size, repeats=repeats, device=device, data_dir=data_dir,
        out=str(directory), cache=cache, threads=threads,
    )
    found, sizes, summary = api.size_control(config, display=display(), command=command_line(), out=directory)
    out.print(size_control_markdown(summary, space, task))
    out.print(f"{summary['searches']} searches, {summary['computed']} scores computed; results in {directory}/")


_SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
_received: list[int] = []  # the signals that stopped this run


def _on_signal(signum: int, frame: Any) -> None:
    """SIGTERM (a scheduler, `kill`) ends a run the way Ctrl-C does: context managers unwind (the progress
    display gives the terminal back), scores stay in the cache, and the exit code says which signal it was."""
    _received.append(signum)
    raise KeyboardInterrupt


def _is_usage_error(exc: BaseException) -> bool:
    """A click usage/parameter error, from whichever click the installed typer uses (newer typers bundle
    their own copy, whose classes are not `click.exceptions.*`)."""
    return hasattr(exc, "exit_code") and callable(getattr(exc, "format_message", None))


def _usage_line(exc: BaseException) -> str:
    message = " ".join(str(exc.format_message()).split())
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "swapbench"
    return f"{message} (see '{path} --help')"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every way out is an exit code: 0 done, 1 a regression found, 2 bad input or an unusable
    file (one line on stderr, no traceback), 3 a worker process died (killed by the OS), 130 Ctrl-C,
    143 SIGTERM (for 3, 130 and 143: scores kept, re-run to resume)."""
    for sig in _SIGNAL_EXIT:
        signal.signal(sig, _on_signal)
    code: int = 0
    try:
        result = app(args=argv, prog_name="swapbench", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except SwapbenchError as exc:
        code = _SIGNAL_EXIT.get(_received[0], exc.exit_code) if _received else exc.exit_code
        sys.stderr.write(f"error: {' '.join(str(exc).split())}\n")
    except KeyboardInterrupt:  # outside typer's own handling (e.g. during start-up)
        code = 130
    except OSError as exc:  # a write outside the engine's checks: disk full, a file vanished, read-only
        from swapbench.study.cache import storage_error

        where = exc.filename or "(unnamed)"
        sys.stderr.write(f"error: {storage_error(Path(str(where)), exc, 'output file')}\n")
        code = 2
    except Exception as exc:
        if type(exc).__name__ == "Abort":  # end of input at a prompt
            sys.stderr.write("error: aborted\n")
            code = 1
        elif not _is_usage_error(exc):
            raise
        elif type(exc).__name__ == "NoArgsIsHelpError":  # a bare `swapbench` or group: show what there is
            ctx = getattr(exc, "ctx", None)
            out.print(ctx.get_help() if ctx is not None else "")
            code = 2
        else:
            sys.stderr.write(f"error: {_usage_line(exc)}\n")
            code = 2
    if _received and code in (0, 130):
        # interrupted outside the scoring loop (planning, writing): typer turned it into exit 130
        sys.stderr.write("error: interrupted; what was finished is kept (scores in the cache, partial downloads); "
                         "re-run the same command to resume\n")
        code = _SIGNAL_EXIT[_received[0]]
    sys.stderr.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
