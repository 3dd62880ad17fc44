"""Command-line interface (thin: parsing and printing; the work lives in the packages)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from swapbench.errors import SwapbenchError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Score untrained NAS-benchmark networks with training-free metrics and correlate "
                       "the scores with ground-truth accuracy.")
data_app = typer.Typer(no_args_is_help=True, help="The benchmark data directory.")
app.add_typer(data_app, name="data")

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def fail(message: str, code: int = 2) -> None:
    """One plain line on stderr (never wrapped), then exit."""
    sys.stderr.write(f"error: {message}\n")
    sys.exit(code)


# --------------------------------------------------------------------------------------------
# argument parsing helpers


def parse_seeds(text: str) -> list[int]:
    """'0-4' or '0,2,5' or '3'."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else (part, "")
                seeds.extend(range(int(lo), int(hi) + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise SwapbenchError(f"bad --seeds {text!r}; use a range like 0-4 or a list like 0,1,2") from None
    if not seeds:
        raise SwapbenchError(f"bad --seeds {text!r}; use a range like 0-4 or a list like 0,1,2")
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
    names = [p.strip() for p in text.split(",") if p.strip()]
    for name in names:
        if name not in list_proxies():
            raise SwapbenchError(f"unknown proxy '{name}'; choose from: {', '.join(list_proxies())}")
    return names


def make_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


# --------------------------------------------------------------------------------------------
# commands


@app.command()
def correlate(
    space: str = typer.Option(..., "--space", help="search space (see `swapbench spaces`)"),
    task: str = typer.Option(..., "--task", help="task / dataset of the space"),
    proxies: str = typer.Option("swap,reg_swap", "--proxies", help="comma-separated metrics, or 'all'"),
    n_archs: int = typer.Option(1000, "--n-archs", help="architectures per seed (capped at the truth table)"),
    seeds: str = typer.Option("0-4", "--seeds", help="seeds, e.g. 0-4 or 0,3"),
    batch_size: int = typer.Option(None, "--batch-size", help="images per batch (default: 64; 32 for TNB101)"),
    batch_policy: str = typer.Option("fixed", "--batch-policy", help="fixed (one batch per seed) or per-arch"),
    repeats: int = typer.Option(None, "--repeats", help="repeats of metrics that average over re-inits (swap)"),
    option: list[str] = typer.Option([], "--option", help="metric option PROXY.KEY=VALUE (repeatable)"),
    truth: str = typer.Option(None, "--truth", help="ground truth: nbsz (default), a built-in name, or a CSV"),
    arch_column: str = typer.Option(None, "--arch-column", help="architecture column of a truth CSV"),
    acc_column: str = typer.Option(None, "--acc-column", help="accuracy column of a truth CSV"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda"),
    data_dir: str = typer.Option(None, "--data-dir", help="benchmark data dir (default: see `data status`)"),
    out_dir: str = typer.Option(None, "--out", help="output dir (default: runs/SPACE-TASK)"),
    cache: str = typer.Option(None, "--cache", help="score cache (default: OUT/cache.sqlite)"),
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch"),
) -> None:
    """Score sampled architectures and correlate the scores with ground-truth accuracy."""
    from swapbench.report.tables import rich_table, summary_markdown, write_csv, write_json
    from swapbench.study.cache import ScoreCache
    from swapbench.study.config import CorrelateConfig
    from swapbench.study.runner import (
        execute,
        plan_run,
        results_frames,
        run_metadata,
        stored_seconds,
    )
    from swapbench.study.runner import (
        out_dir as make_out_dir,
    )

    config = CorrelateConfig(
        space=space, task=task, proxies=parse_proxies(proxies), n_archs=n_archs, seeds=parse_seeds(seeds),
        batch_size=batch_size, batch_policy=batch_policy, repeats=repeats, proxy_options=parse_options(option),
        truth=truth, arch_column=arch_column, acc_column=acc_column, device=device, data_dir=data_dir,
        out=out_dir or f"runs/{space}-{task}", cache=cache, threads=threads,
    )
    plan = plan_run(config)
    for notice in plan.notices:
        err.print(f"[yellow]notice:[/] {notice}")
    directory = make_out_dir(plan)
    store = ScoreCache(config.cache_path())
    try:
        with make_progress() as bar:
            job = bar.add_task(f"{space}/{task}", total=plan.total)
            stats = execute(plan, store, progress=lambda k: bar.advance(job, k))
        scores, corr, summary = results_frames(plan, store)
        stats["per_arch_seconds"] = stored_seconds(plan, store)
    finally:
        store.close()
    write_csv(scores, directory / "scores.csv")
    write_csv(corr, directory / "correlations.csv")
    write_csv(summary, directory / "summary.csv")
    title = f"{space} / {task}: Spearman and Kendall over {len(config.seeds)} seed(s)"
    (directory / "summary.md").write_text(summary_markdown(summary, title))
    command = "swapbench " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    write_json(run_metadata(plan, stats, command), directory / "run.json")
    out.print(rich_table(summary.drop(columns=["space", "task"]), title))
    out.print(f"computed {stats['computed']} scores, reused {stats['reused']} from the cache "
              f"in {stats['wall_seconds']:.1f}s; results in {directory}/")


@app.command("proxies")
def list_proxies_cmd() -> None:
    """List the registered metrics."""
    import pandas as pd

    from swapbench.proxies import PROXIES
    from swapbench.report.tables import rich_table

    rows = [dict(name=p.name, labels="yes" if p.needs_labels else "no", grad="yes" if p.needs_grad else "no",
                 direction="higher" if p.direction > 0 else "lower",
                 options=", ".join(f"{k}={v}" for k, v in p.options.items()), description=p.description)
            for p in PROXIES]
    out.print(rich_table(pd.DataFrame(rows), "training-free metrics"))


@app.command("spaces")
def list_spaces_cmd(data_dir: str = typer.Option(None, "--data-dir")) -> None:
    """List the search spaces, their tasks and ground truth."""
    import pandas as pd

    from swapbench.data.benchmarks import truth_names
    from swapbench.report.tables import rich_table
    from swapbench.spaces import SPACES

    rows = []
    for sp in SPACES:
        for task, info in sp.tasks.items():
            rows.append(dict(space=sp.name, task=task, input="x".join(map(str, info.input_shape)),
                             batch=info.default_batch_size, truth=", ".join(truth_names(sp)),
                             reg_mu_sigma=sp.reg_default(task) if sp.reg_default(task) is not None else "-"))
    out.print(rich_table(pd.DataFrame(rows), "search spaces"))


@app.command("lswag-band")
def lswag_band(
    space: str = typer.Option(..., "--space"),
    task: str = typer.Option(..., "--task"),
    n_networks: int = typer.Option(100, "--n-networks", help="networks sampled from the space"),
    seed: int = typer.Option(0, "--seed"),
    batch_size: int = typer.Option(None, "--batch-size"),
    data_dir: str = typer.Option(None, "--data-dir"),
    band_file: str = typer.Option(None, "--band-file", help="band file (default configs/lswag_bands.toml)"),
) -> None:
    """Select L-SWAG's layer band label-free (gradient statistics of sampled networks) and store it."""
    from swapbench.proxies.lswag_band import select_band

    if n_networks < 2:
        raise SwapbenchError("--n-networks must be at least 2")
    kwargs = {"band_file": Path(band_file)} if band_file else {}
    with make_progress() as bar:
        job = bar.add_task(f"lswag band {space}/{task}", total=n_networks)
        entry = select_band(space, task, n_networks=n_networks, seed=seed, data_dir=data_dir,
                            batch_size=batch_size, progress=lambda k: bar.advance(job, k), **kwargs)
    out.print(entry)


@data_app.command("status")
def data_status(data_dir: str = typer.Option(None, "--data-dir")) -> None:
    """List every benchmark table and image set found in the data dir."""
    from swapbench.data.datadir import resolve_data_dir
    from swapbench.data.inventory import inventory
    from swapbench.report.tables import rich_table

    path = resolve_data_dir(data_dir)
    out.print(f"data dir: {path}")
    out.print(rich_table(inventory(path), "benchmark data"))


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
def data_fetch(data_dir: str = typer.Option(None, "--data-dir")) -> None:
    """Download the NAS-Bench-Suite-Zero tables from their canonical Google Drive ids (needs gdown)."""
    from swapbench.data.datadir import resolve_data_dir
    from swapbench.data.fetch import fetch_nbsz

    target = resolve_data_dir(data_dir, must_exist=False)
    for path in fetch_nbsz(target, log=out.print):
        out.print(f"fetched {path}")


def main() -> None:
    try:
        app(standalone_mode=False)
    except SwapbenchError as exc:
        fail(" ".join(str(exc).split()))
    except KeyboardInterrupt:
        fail("interrupted: every score computed so far is in the cache; re-run the command to resume", 130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
