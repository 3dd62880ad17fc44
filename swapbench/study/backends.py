"""Where scoring runs: in this process, in worker processes, or on a Ray cluster.

Every backend runs the same job function, (config, seed, truth rows, missing metrics) -> scores, and
hands the results back to the calling process, which is the only writer of the SQLite cache. A score
depends only on (config, seed, arch), so every backend fills the cache with the same numbers (with
the same CPU thread count; see `ExecOptions.threads`).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from typing import Any

import torch

from swapbench.device import release_memory
from swapbench.errors import SwapbenchError, WorkerLost
from swapbench.study.config import CorrelateConfig
from swapbench.study.runner import Plan, plan_run, run_batch, score_arch

BACKENDS = ("local", "process", "ray")
CHECKPOINTING = ("auto", "on", "off")

# (proxy, arch_key, score, seconds)
Score = tuple[str, str, float, float]


@dataclass(frozen=True)
class Job:
    """A chunk of one column's architectures for one seed, each with the metrics still missing."""

    plan: int  # index into the plans being executed
    seed: int
    items: tuple[tuple[int, tuple[str, ...]], ...]  # (truth-table row, metric names)

    @property
    def size(self) -> int:
        return len(self.items)


@dataclass
class ExecOptions:
    backend: str = "local"
    workers: int | None = None  # None: 1, or one per visible GPU with --device cuda
    threads: int | None = None  # torch CPU threads per worker; None: cores // workers
    chunk: int | None = None  # architectures per job; None: 1 in-process, 4 otherwise
    ray_address: str | None = None  # None: start a local Ray instance on this machine
    workers_per_gpu: int | None = None  # worker processes sharing each visible GPU (small networks, big cards)
    checkpointing: str = "auto"  # block checkpointing of the networks that support it: auto, on or off

    def resolved_workers(self, device_type: str) -> int:
        if self.workers_per_gpu is not None and device_type != "cuda":
            raise SwapbenchError("--workers-per-gpu shares GPUs between workers; it needs --device cuda (or auto "
                                 "on a machine with a GPU)")
        if self.workers is not None:
            if self.workers < 1:
                raise SwapbenchError("--workers must be >= 1")
            return self.workers
        if device_type == "cuda" and self.backend != "local":
            return max(1, torch.cuda.device_count()) * (self.workers_per_gpu or 1)
        return 1

    def resolved_threads(self, workers: int) -> int:
        if self.threads is not None:
            if self.threads < 1:
                raise SwapbenchError("--threads must be >= 1")
            return self.threads
        return max(1, (os.cpu_count() or 1) // workers)

    def check(self) -> None:
        if self.backend not in BACKENDS:
            raise SwapbenchError(f"unknown backend '{self.backend}'; use {', '.join(BACKENDS)}")
        if self.checkpointing not in CHECKPOINTING:
            raise SwapbenchError(f"unknown --checkpointing '{self.checkpointing}'; use {', '.join(CHECKPOINTING)}")
        if self.chunk is not None and self.chunk < 1:
            raise SwapbenchError("--chunk must be >= 1")
        if self.workers_per_gpu is not None and self.workers_per_gpu < 1:
            raise SwapbenchError("--workers-per-gpu must be >= 1")
        if self.workers_per_gpu is not None and self.backend == "local":
            raise SwapbenchError("--workers-per-gpu needs worker processes (--backend process or ray)")


# --------------------------------------------------------------------------------------------
# the job function and its per-process state


_PLANS: dict[str, Plan] = {}
_BATCHES: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}


def _config_id(config: CorrelateConfig) -> str:
    return json.dumps(config.to_dict(), sort_keys=True, default=str)


def _plan_for(config: CorrelateConfig) -> Plan:
    ident = _config_id(config)
    if ident not in _PLANS:
        _PLANS[ident] = plan_run(config)
    return _PLANS[ident]


def score_items(plan: Plan, seed: int, items: Iterable[tuple[int, tuple[str, ...]]]) -> list[Score]:
    """Score the given rows of one plan with the given metrics."""
    batch = None
    if plan.batch_policy in ("fixed", "first"):  # one batch for every architecture of the seed
        ident = (_config_id(plan.config), seed)
        if ident not in _BATCHES:
            _BATCHES.clear()  # one column at a time is the common order; keep memory flat
            _BATCHES[ident] = run_batch(plan, seed, "")
        batch = _BATCHES[ident]
    out: list[Score] = []
    for row, names in items:
        arch = plan.truth.archs[row]
        arch_key = plan.space.canonical_key(arch)
        specs = [spec for spec in plan.proxies if spec.name in names]
        for name, (value, secs) in score_arch(plan, seed, arch, specs, batch).items():
            out.append((name, arch_key, value, secs))
        release_memory()  # the network's passes are gone: the next one starts from a small heap
    return out


def _worker_job(config: CorrelateConfig, seed: int, items: tuple) -> list[Score]:
    return score_items(_plan_for(config), seed, items)


def _init_process(threads: int, counter: Any, gpus: int) -> None:
    """Pin CPU threads, and spread workers over the visible GPUs (--device cuda)."""
    from swapbench.device import set_deterministic

    # Ctrl-C reaches the whole process group: the parent alone handles it (it ends the workers)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    set_deterministic()
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if gpus > 0:
        torch.cuda.set_device(index % gpus)


def _ray_job(config: CorrelateConfig, seed: int, items: tuple, threads: int) -> list[Score]:
    from swapbench.device import set_deterministic

    torch.set_num_threads(threads)
    set_deterministic()
    return _worker_job(config, seed, items)


# --------------------------------------------------------------------------------------------
# dispatch


def _worker_configs(plans: list[Plan]) -> list[CorrelateConfig]:
    """Configs as workers re-plan them: the data dir fixed to the resolved path (a worker may run in
    another environment), and threads left to the worker initialiser."""
    from swapbench.data.datadir import resolve_data_dir

    return [replace(p.config, data_dir=str(resolve_data_dir(p.config.data_dir)), threads=None,
                    cache=None) for p in plans]


def run_jobs(plans: list[Plan], jobs: list[Job], options: ExecOptions,
             on_result: Callable[[Job, list[Score]], None],
             notice: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every job on the chosen backend; `on_result` is called in this process as each finishes, `notice`
    with what the user should know mid-run (a lost worker and the smaller pool that goes on)."""
    options.check()
    if not jobs:
        return dict(backend=options.backend, workers=0, threads=torch.get_num_threads())
    device_type = plans[0].device.type
    workers = options.resolved_workers(device_type)
    if options.backend == "local":
        threads = options.threads or plans[0].config.threads
        if threads:
            torch.set_num_threads(threads)
        for job in jobs:
            on_result(job, score_items(plans[job.plan], job.seed, job.items))
        return dict(backend="local", workers=1, threads=torch.get_num_threads())
    threads = options.resolved_threads(workers)
    configs = _worker_configs(plans)
    info = dict(backend=options.backend, workers=workers, threads=threads)
    if options.backend == "process":
        info.update(_run_processes(configs, jobs, workers, threads, device_type, on_result, notice))
    else:
        _run_ray(configs, jobs, workers, threads, device_type, options.ray_address, on_result,
                 options.workers_per_gpu)
    return info


def _run_processes(configs: list[CorrelateConfig], jobs: list[Job], workers: int, threads: int,
                   device_type: str, on_result: Callable[[Job, list[Score]], None],
                   notice: Callable[[str], None] | None = None) -> dict[str, int]:
    """Run the jobs on a pool of `workers` processes. When the OS kills a worker (most often for lack of
    memory: each holds its own network, batch and activations) the unfinished jobs go on in a pool of half
    as many workers; only a loss at one worker ends the run (WorkerLost, exit 3). Returns the workers in
    use at the end and how many pools were lost."""
    todo, lost = list(jobs), 0
    while True:
        broken = _process_pool_pass(configs, todo, workers, threads, device_type, on_result)
        if broken is None:
            return dict(workers_at_end=workers, pools_lost=lost)
        job, todo = broken
        config = configs[job.plan]
        where = f"{config.space}/{config.task} seed {job.seed}"
        if workers == 1:
            raise WorkerLost(f"a worker process died while scoring {where} (the OS killed it, most often for lack "
                             "of memory: try fewer --workers, or a machine with more memory)")
        lost, workers = lost + 1, workers // 2
        if notice is not None:
            notice(f"a worker process died while scoring {where} (the OS killed it, most often for lack of "
                   f"memory); going on with {workers} worker{'s' if workers > 1 else ''}, "
                   f"{sum(j.size for j in todo)} arch(s) of jobs left")


def _process_pool_pass(configs: list[CorrelateConfig], jobs: list[Job], workers: int, threads: int,
                       device_type: str, on_result: Callable[[Job, list[Score]], None]
                       ) -> tuple[Job, list[Job]] | None:
    """One pool over `jobs`: None when all are handed back, else (the job whose worker died, every job not
    handed back) once the pool broke."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
    counter = ctx.Value("i", 0)
    gpus = torch.cuda.device_count() if device_type == "cuda" else 0
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_process,
                               initargs=(threads, counter, gpus))
    broken = None
    try:
        pending = {}
        queue = iter(jobs)
        for job in _take(queue, 2 * workers):  # a short queue: an interrupt loses little work
            pending[pool.submit(_worker_job, configs[job.plan], job.seed, job.items)] = job
        while pending and broken is None:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    scores = future.result()
                except BrokenProcessPool:
                    # what finished before the break is kept; the rest (in flight or queued) goes back
                    unfinished = [job]
                    for other, other_job in pending.items():
                        if other.done() and not other.cancelled() and other.exception() is None:
                            on_result(other_job, other.result())
                        else:
                            unfinished.append(other_job)
                    broken = (job, unfinished + list(queue))
                    break
                on_result(job, scores)
                for nxt in _take(queue, 1):
                    pending[pool.submit(_worker_job, configs[nxt.plan], nxt.seed, nxt.items)] = nxt
    except BaseException:
        # interrupted (or a worker failed): end the workers now rather than after their jobs; what they were
        # computing is lost, everything handed back so far is already in the cache
        _end_pool(pool)
        raise
    if broken is not None:
        _end_pool(pool)
        return broken
    pool.shutdown(wait=True)
    return None


def _end_pool(pool: ProcessPoolExecutor) -> None:
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


_RAY_TRIES = 3


def _run_ray(configs: list[CorrelateConfig], jobs: list[Job], workers: int, threads: int, device_type: str,
             address: str | None, on_result: Callable[[Job, list[Score]], None],
             workers_per_gpu: int | None = None) -> None:
    """Run the jobs as Ray tasks. A job whose worker dies is run again by Ray (the loss of one node or
    process is routine on a cluster); one lost on every try ends the run (WorkerLost, exit 3), the other
    queued jobs cancelled."""
    try:
        import ray
    except ImportError:
        raise SwapbenchError("--backend ray needs Ray: pip install 'swapbench[ray]'") from None
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers * threads, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        gpus = 1 / (workers_per_gpu or 1) if device_type == "cuda" else 0  # Ray packs K workers on a GPU
        # Ray runs a job whose worker died again, up to _RAY_TRIES times in all, before handing back the loss
        remote = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=_RAY_TRIES - 1)(_ray_job)
        lost = (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError, ray.exceptions.NodeDiedError)
        refs = {}
        config_refs = [ray.put(c) for c in configs]
        queue = iter(jobs)
        # keep every worker busy but the queue short: results stream back and a cancel loses little
        for job in _take(queue, 2 * workers):
            refs[remote.remote(config_refs[job.plan], job.seed, job.items, threads)] = job
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            for ref in ready:
                job = refs.pop(ref)
                try:
                    scores = ray.get(ref)
                except lost as exc:
                    for other in refs:  # on a shared cluster the queued jobs would outlive the run
                        ray.cancel(other, force=True)
                    config = configs[job.plan]
                    raise WorkerLost(
                        f"a Ray worker died while scoring {config.space}/{config.task} seed {job.seed}, "
                        f"{_RAY_TRIES} times ({type(exc).__name__}; most often the OS or Ray killed it for lack "
                        "of memory: try fewer --workers, or nodes with more memory)") from None
                on_result(job, scores)
                for nxt in _take(queue, 1):
                    refs[remote.remote(config_refs[nxt.plan], nxt.seed, nxt.items, threads)] = nxt
    finally:
        if started:
            ray.shutdown()


def _take(it: Iterator[Job], n: int) -> list[Job]:
    out = []
    for _ in range(n):
        try:
            out.append(next(it))
        except StopIteration:
            break
    return out
