"""Record or compare the scores of every metric on a few architectures per space, so that a change of the
harness or of a metric's implementation can be checked to leave every number as it was.

    python -m bench.differential record OUT.json [--archs 5] [--batch N] [--columns nb201/cifar10,...]
    python -m bench.differential add REF.json [--checkpointing off]
    python -m bench.differential compare REF.json [--rtol 1e-5] [--checkpointing off]

Each column's first sampled architectures of seed 0 are scored exactly as a study scores them
(`swapbench.score`: one network per architecture, the column's fixed batch of seed 0, every metric through
the harness), with `--proxies all`.

A reference holds one record per kind of CPU: float32 kernels round differently on another vector ISA or
vendor (torch's dispatch, oneDNN and MKL each pick their code by CPU), and a score at batch 8 can amplify
that rounding well past 1e-9. `add` rescores REF.json's columns, archs, batch and options on this CPU and
stores them as this CPU's record, printing each metric's largest gap to the other records. `compare`
rescores them and exits 1 listing every score whose relative difference from this CPU's record exceeds
`--rtol` (NaN must stay NaN); on a CPU without a record it compares with every record under the cross-CPU
bounds (`cross_cpu_rtol`) and passes if the scores agree with one of them.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import torch

import swapbench
from swapbench.proxies.registry import list_proxies
from swapbench.study.config import CorrelateConfig
from swapbench.study.runner import plan_run

COLUMNS = ("nb201/cifar10", "nb101/cifar10", "nb301/cifar10", "tnb101_micro/class_scene",
           "tnb101_micro/autoencoder", "tnb101_macro/class_scene")


def arch_scores(space: str, task: str, arch: object, metrics: list[str], batch: int | None,
                options: dict[str, dict], checkpointing: str = "auto") -> dict[str, float]:
    """Every metric's score of one architecture, as a study of seed 0 computes it."""
    found = swapbench.score(space, arch, task, metrics, seed=0, device="cpu", batch_size=batch, options=options,
                            checkpointing=checkpointing)
    return {name: s.value for name, s in found.items()}


def score_columns(columns: list[str], archs: int, batch: int | None,
                  only: dict[str, list[str]] | None = None,
                  options: dict[str, dict[str, dict]] | None = None,
                  checkpointing: str = "auto") -> dict[str, dict]:
    """{column: {"batch": B, "options": {metric: options}, "archs": {arch_key: {metric: score}}, "seconds": s}}.
    `options` (per column) sets metric options, so a reference is rescored under the options it was recorded
    with even after a default changed; `checkpointing` is the study's option of that name."""
    out: dict[str, dict] = {}
    for column in columns:
        space, task = column.split("/")
        column_options = (options or {}).get(column, {})
        # the column's sample, batch size and resolved metric options; the scores come from the public API
        plan = plan_run(CorrelateConfig(space=space, task=task, proxies=list_proxies(), n_archs=max(archs, 3),
                                        limit_archs=archs, seeds=[0], batch_size=batch, device="cpu",
                                        proxy_options=column_options))
        metrics = [spec.name for spec in plan.proxies]
        start = time.perf_counter()
        scores: dict[str, dict[str, float]] = {}
        for row in plan.samples[0]:
            arch = plan.truth.archs[row]
            key = plan.space.canonical_key(arch)
            if only is not None and key not in only[column]:
                continue
            scores[key] = arch_scores(space, task, arch, metrics, batch, column_options, checkpointing)
        if only is not None:  # archs stored in the reference beyond the sample prefix
            missing = set(only[column]) - set(scores)
            for key in sorted(missing):
                scores[key] = arch_scores(space, task, plan.space.parse(key), metrics, batch, column_options,
                                          checkpointing)
        out[column] = {"batch": plan.batch_size, "options": plan.options, "archs": scores,
                       "seconds": time.perf_counter() - start}
        print(f"{column}: {len(scores)} archs, batch {plan.batch_size}, {out[column]['seconds']:.1f} s",
              file=sys.stderr)
    return out


def differences(ref: dict[str, dict], new: dict[str, dict], rtol: float | Mapping[str, float]) -> list[str]:
    """Lines naming every (column, arch, metric) whose score moved beyond `rtol` (relative; per metric if a
    mapping, a metric it lacks held to 0)."""
    bad = []
    for column, entry in ref.items():
        for arch, scores in entry["archs"].items():
            for metric, old in scores.items():
                bound = rtol.get(metric, 0.0) if isinstance(rtol, Mapping) else rtol
                value = new[column]["archs"][arch].get(metric, math.nan)
                same = (math.isnan(old) and math.isnan(value)) or (
                    not math.isnan(value) and abs(value - old) <= bound * max(abs(old), 1e-12))
                if not same:
                    bad.append(f"{column} {arch} {metric}: {old!r} -> {value!r}")
    return bad


def cpu() -> dict[str, str]:
    """What picks the float32 kernels, and so their rounding: the machine, the vector ISA torch dispatches
    to, and the vendor where the system says it."""
    info = {"machine": platform.machine(), "capability": torch.backends.cpu.get_cpu_capability()}
    try:
        with open("/proc/cpuinfo") as f:
            vendor = next((line.split(":", 1)[1].strip() for line in f if line.startswith("vendor_id")), None)
    except OSError:
        vendor = None
    if vendor:
        info["vendor"] = vendor
    return info


def load_records(path: Path) -> list[dict]:
    """A reference's records, each {"cpu": {...}, "code": ..., "columns": {column: entry}}. A file of bare
    columns (what `record` wrote before records) is one record whose CPU is unknown (`cpu` empty)."""
    data = json.loads(path.read_text())
    return data["records"] if "records" in data else [{"cpu": {}, "columns": data}]


def matching_record(records: list[dict], here: dict[str, str]) -> dict | None:
    """The record made on a CPU like this one: every field it names equals ours (one it lacks, e.g. a vendor
    not written down, does not count against it)."""
    return next((r for r in records if r["cpu"] and all(here.get(k) == v for k, v in r["cpu"].items())), None)


def cross_cpu_rtol(records: list[dict], margin: float = 10.0, floor: float = 1e-6) -> dict[str, float]:
    """Per metric, `margin` times the largest relative gap between two records' values of one score, and at
    least `floor`: how far float32 rounding on another CPU has been seen to move it, with room to spare."""
    gaps: dict[str, float] = {}
    for i, a in enumerate(records):
        for b in records[i + 1:]:
            for column, entry in a["columns"].items():
                for arch, scores in entry["archs"].items():
                    for metric, x in scores.items():
                        y = b["columns"][column]["archs"][arch].get(metric)
                        if y is None:  # a metric added after one of the two was recorded
                            continue
                        gap = 0.0 if math.isnan(x) and math.isnan(y) else abs(x - y) / max(abs(x), 1e-12)
                        gaps[metric] = max(gaps.get(metric, 0.0), gap)
    return {metric: max(margin * gap, floor) for metric, gap in gaps.items()}


def check(records: list[dict], new: dict[str, dict], here: dict[str, str], rtol: float = 1e-9) -> list[str]:
    """Differences of the rescored columns `new` from the record of this CPU at `rtol`; on a CPU without a
    record, the fewest differences from any one record under `cross_cpu_rtol` (none: agrees with it)."""
    mine = matching_record(records, here)
    if mine is None and len(records) == 1:
        mine = records[0]
    if mine is not None:
        return differences({c: mine["columns"][c] for c in new}, new, rtol)
    bounds = cross_cpu_rtol(records)
    return min((differences({c: r["columns"][c] for c in new}, new, bounds) for r in records), key=len)


def rescore(records: list[dict], checkpointing: str = "off") -> dict[str, dict]:
    """The columns, archs, batch and options of the first record, scored here, a column at a time."""
    new: dict[str, dict] = {}
    for column, entry in records[0]["columns"].items():
        new.update(score_columns([column], len(entry["archs"]), entry["batch"], {column: list(entry["archs"])},
                                 {column: entry.get("options", {})}, checkpointing))
    return new


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("record", "add", "compare"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--archs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=None, help="default: each task's study batch")
    parser.add_argument("--columns", default=",".join(COLUMNS))
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpointing", default="auto", help="auto, on or off, as in a study")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    here = cpu()
    if args.mode == "record":
        result = score_columns(args.columns.split(","), args.archs, args.batch, checkpointing=args.checkpointing)
        args.path.parent.mkdir(parents=True, exist_ok=True)
        args.path.write_text(json.dumps({"records": [{"cpu": here, "code": _commit(), "columns": result}]},
                                        indent=1))
        print(f"wrote {args.path}")
        return 0
    records = load_records(args.path)
    new = rescore(records, args.checkpointing)
    if args.mode == "add":
        others = [r for r in records if r is not matching_record(records, here)]
        mine = {"cpu": here, "code": _commit(), "columns": new}
        for metric, bound in sorted(cross_cpu_rtol(others + [mine], margin=1.0, floor=0.0).items()):
            print(f"{metric}: largest relative gap between records {bound:.3g}")
        args.path.write_text(json.dumps({"records": others + [mine]}, indent=1) + "\n")
        print(f"wrote this CPU's record ({', '.join(here.values())}) to {args.path}")
        return 0
    mine = matching_record(records, here)
    bad = check(records, new, here, args.rtol)
    total = sum(len(s) for e in records[0]["columns"].values() for s in e["archs"].values())
    for line in bad:
        print(line)
    within = f"rtol {args.rtol:g}" if mine is not None or len(records) == 1 else "the cross-CPU bounds"
    print(f"{total - len(bad)} of {total} scores within {within}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
