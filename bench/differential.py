"""Record or compare the scores of every metric on a few architectures per space, so that a change of the
harness or of a metric's implementation can be checked to leave every number as it was.

    python -m bench.differential record OUT.json [--archs 5] [--batch N] [--columns nb201/cifar10,...]
    python -m bench.differential compare REF.json [--rtol 1e-5] [--checkpointing off]

Each column's first sampled architectures of seed 0 are scored exactly as a study scores them
(`swapbench.score`: one network per architecture, the column's fixed batch of seed 0, every metric through
the harness), with `--proxies all`. `compare`
rescores the columns, architectures and batch size stored in REF.json and exits 1 listing every score
whose relative difference exceeds `--rtol` (NaN must stay NaN).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
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


def differences(ref: dict[str, dict], new: dict[str, dict], rtol: float) -> list[str]:
    """Lines naming every (column, arch, metric) whose score moved beyond `rtol` (relative)."""
    bad = []
    for column, entry in ref.items():
        for arch, scores in entry["archs"].items():
            for metric, old in scores.items():
                value = new[column]["archs"][arch].get(metric, math.nan)
                same = (math.isnan(old) and math.isnan(value)) or (
                    not math.isnan(value) and abs(value - old) <= rtol * max(abs(old), 1e-12))
                if not same:
                    bad.append(f"{column} {arch} {metric}: {old!r} -> {value!r}")
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("record", "compare"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--archs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=None, help="default: each task's study batch")
    parser.add_argument("--columns", default=",".join(COLUMNS))
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpointing", default="auto", help="auto, on or off, as in a study")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.mode == "record":
        result = score_columns(args.columns.split(","), args.archs, args.batch, checkpointing=args.checkpointing)
        args.path.parent.mkdir(parents=True, exist_ok=True)
        args.path.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.path}")
        return 0
    ref = json.loads(args.path.read_text())
    new = {}
    for column, entry in ref.items():
        only = {column: list(entry["archs"])}
        new.update(score_columns([column], len(entry["archs"]), entry["batch"], only,
                                 {column: entry.get("options", {})}, args.checkpointing))
        moved = differences({column: entry}, new, args.rtol)
        print(f"{column}: {len(moved)} scores moved beyond rtol {args.rtol:g}", file=sys.stderr, flush=True)
    bad = differences(ref, new, args.rtol)
    total = sum(len(s) for e in ref.values() for s in e["archs"].values())
    for line in bad:
        print(line)
    print(f"{total - len(bad)} of {total} scores within rtol {args.rtol:g}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
