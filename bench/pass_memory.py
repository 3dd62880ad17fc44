"""Peak resident memory of one architecture's passes, each in a fresh process: what bounds the memory of a
study over a column (TransNAS-Bench-101 above all: batch 32 of 3x256x256 images).

    python -m bench.pass_memory [--columns tnb101_macro/class_scene] [--archs 0,2 | --keys '(2, 2, 1, 4, 1, 1)']
                                [--passes ...] [--checkpointing on,off] [--out PATH]

Per architecture (seed 0, the run's batch and network) and per pass, a subprocess runs only that pass and
reports its peak RSS (VmHWM) and the RSS before it (interpreter, torch, data, network):
  forward      one train-mode no-grad forward (SWAP, zen, nwot: the activation metrics)
  fwd_bwd      one forward + task-loss backward (the floor of every gradient metric)
  pass1        the shared pass without GraSP: forward, loss gradient, input Jacobian, activation calls
  pass1_grasp  the same with GraSP's Hessian-gradient product (a backward with a graph, then its backward;
               with checkpointing on, block by block after the pass: swapbench.nn.blockwise)
  all          every registered metric, as a study worker scores the architecture
  all_but_grasp  the same without grasp
  metric:NAME  that one metric alone (with the shared passes it uses)
with the network's block checkpointing (swapbench.nn.checkpointing) on, as built, and off; and the pass's
wall-clock seconds (one thread). Writes bench/results/pass_memory.csv.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "pass_memory.csv"
PASSES = ("forward", "fwd_bwd", "pass1", "pass1_grasp", "all", "all_but_grasp")


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(column: str, which_arch: str, which: str, checkpoint: str) -> dict:
    import time

    import torch

    import swapbench
    from swapbench.device import release_memory
    from swapbench.nn.checkpointing import set_checkpointing
    from swapbench.nn.passes import backwards, first_tensor
    from swapbench.proxies import release_spent
    from swapbench.proxies.registry import ProxyContext, list_proxies, run_proxy
    from swapbench.study.config import CorrelateConfig
    from swapbench.study.runner import plan_run, run_batch

    torch.set_num_threads(1)
    space_name, task = column.split("/")
    index = int(which_arch) if which_arch.isdigit() else 0
    plan = plan_run(CorrelateConfig(space=space_name, task=task, proxies=list_proxies(), n_archs=max(index + 1, 3),
                                    limit_archs=index + 1, seeds=[0], device="cpu"))
    if which_arch.isdigit():
        arch = plan.truth.archs[plan.samples[0][index]]
    else:  # a key of the column's table, as the CSV writes it
        found = [a for a in plan.truth.archs if str(plan.space.canonical_key(a)) == which_arch]
        if not found:
            raise SystemExit(f"no architecture {which_arch} in {column}")
        arch = found[0]
    key = plan.space.canonical_key(arch)
    x, y = run_batch(plan, 0, key)
    loss_fn = plan.space.loss_fn(task)
    net = swapbench.build_network(space_name, arch, task, seed=0).train()
    set_checkpointing(net, checkpoint == "on")
    before = _status("VmRSS")
    start = time.perf_counter()
    if which == "forward":
        with torch.no_grad():
            net(x)
    elif which == "fwd_bwd":
        loss_fn(first_tensor(net(x)), y).backward()
    elif which in ("pass1", "pass1_grasp"):
        parts = ("loss", "jacobian", "activations") + (("hvp",) if which == "pass1_grasp" else ())
        backwards(net, x, y, loss_fn, tuple(p for p in ("loss", "jacobian", "hvp", "activations") if p in parts))
    else:
        memo: dict = {}
        alone = which.removeprefix("metric:") if which.startswith("metric:") else None
        specs = [s for s in plan.proxies
                 if (s.name == alone if alone else which == "all" or s.name != "grasp")]
        if not specs:
            raise SystemExit(f"no metric {alone!r}")
        planned = frozenset(spec.name for spec in specs)
        for i, spec in enumerate(specs):  # as the study's runner does
            run_proxy(spec, net, x, y, loss_fn, ProxyContext(space=plan.space, task=task, seed=0, arch_key=key,
                                                             options=plan.options[spec.name], memo=memo,
                                                             planned=planned))
            release_spent(memo, (later.name for later in specs[i + 1:]))
            if checkpoint == "on":
                release_memory()
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in net.parameters())
    return {"column": column, "arch": key, "batch": int(x.shape[0]), "params_m": round(params / 1e6, 3),
            "pass": which, "checkpointing": checkpoint, "rss_before_mib": round(before),
            "peak_rss_mib": round(_status("VmHWM")), "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--columns", default="tnb101_macro/class_scene")
    parser.add_argument("--archs", default="0,2", help="indices into the seed-0 sample")
    parser.add_argument("--keys", default="", help="architectures by key instead, ';'-separated: '(2, 2, 1, 4, 1, 1)'")
    parser.add_argument("--passes", default=",".join(PASSES))
    parser.add_argument("--checkpointing", default="on,off", help="on, off or both (on,off)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.worker:
        column, which_arch, which, checkpoint = args.worker
        print(json.dumps(worker(column, which_arch, which, checkpoint)))
        return 0
    rows = []
    for column in args.columns.split(","):
        for index in ([k.strip() for k in args.keys.split(";")] if args.keys else args.archs.split(",")):
            for which in args.passes.split(","):
                for checkpoint in args.checkpointing.split(","):
                    cmd = [sys.executable, "-m", "bench.pass_memory", "--worker", column, index, which, checkpoint]
                    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
                    if done.returncode != 0:
                        raise SystemExit(f"worker failed ({column}, arch {index}, {which}, checkpointing {checkpoint})"
                                         f":\n{done.stderr[-2000:]}")
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                    rows.append(row)
                    print(f"{column} {row['arch']} ({row['params_m']} M params, batch {row['batch']}) {which}, "
                          f"checkpointing {checkpoint}: peak {row['peak_rss_mib']} MiB (before the pass "
                          f"{row['rss_before_mib']} MiB), {row['seconds']} s", flush=True)
    from bench.common import write_rows  # not at the top: workers' RSS would include pandas

    write_rows(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
