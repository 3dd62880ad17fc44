"""Every metric gives the scores stored in tests/data/metric_scores_b8.json: all 18 metrics on two
architectures per column, batch 8, seed 0, scored as a study scores them (`swapbench.score`, one shared
memo). Each column is rescored under the metric options it was recorded with (zico's then-default
cumulative form), and with block checkpointing off: the reference's grasp is the Hessian-gradient product
taken in one go, which the block-wise product of a checkpointed TransNAS-Bench-101 network equals to float
rounding only (at batch 8 in float32 GraSP's cancellation makes that up to ~1 %; tests/test_blockwise.py
checks it in float64).

The file holds one record per kind of CPU, each written by the code before the shared passes were merged
(63f9b62, `bench/differential.py record`), so a change of the harness or of a metric's implementation that
moves any number by more than 1e-9 fails here. Records, not one tolerance, because float32 kernels round
differently on another ISA or vendor and batch-8 scores amplify that: between the AVX-512 record and the
AMD AVX2 one, epe_nas moves by up to 60 %, grasp by 2e-2 and zico and L-SWAG by 1e-2, while swap, nwot and the counts
stay equal or nearly. On a CPU with no record the scores must agree with one record within ten times the
largest gap seen between records (`differential.cross_cpu_rtol`): looser, but it still catches a changed
metric, and `python -m bench.differential add` stores a record for that CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import differential

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "metric_scores_b8.json"
RECORDS = differential.load_records(REFERENCE)
FAST = ("nb201/cifar10",)

pytestmark = pytest.mark.usefixtures("one_thread")


def _check(column: str) -> None:
    entry = RECORDS[0]["columns"][column]
    new = differential.score_columns([column], len(entry["archs"]), entry["batch"],
                                     only={column: list(entry["archs"])},
                                     options={column: entry.get("options", {})}, checkpointing="off")
    assert differential.check(RECORDS, new, differential.cpu()) == []


@pytest.mark.slow  # scored on the real images
@pytest.mark.parametrize("column", FAST)
def test_scores_unchanged(data_dir, column):
    _check(column)


@pytest.mark.slow
@pytest.mark.parametrize("column", [c for c in RECORDS[0]["columns"] if c not in FAST])
def test_scores_unchanged_other_spaces(data_dir, column):
    _check(column)


def test_records_agree_across_cpus():
    """The records differ only as float rounding does: each lies within the cross-CPU bounds of the first,
    and metrics without an ill-conditioned step (the counts, SWAP's patterns, synflow in float64, nwot's
    log-determinant, zen's log-norm) stay within the 1e-6 floor."""
    assert len(RECORDS) >= 2 and all(r["cpu"] for r in RECORDS)
    assert len({tuple(sorted(r["cpu"].items())) for r in RECORDS}) == len(RECORDS)
    bounds = differential.cross_cpu_rtol(RECORDS)
    for record in RECORDS[1:]:
        assert differential.differences(RECORDS[0]["columns"], record["columns"], bounds) == []
    steady = ("params", "flops", "swap", "reg_swap", "num_lr", "synflow", "l2_norm", "nwot", "zen")
    assert {m: bounds[m] for m in steady} == {m: 1e-6 for m in steady}


def test_check_holds_a_known_cpu_to_its_record():
    """On a CPU with a record the scores are held to 1e-9 against that record only; on a CPU without one,
    any record's scores pass, and a score moved beyond the bounds fails."""
    a, b = RECORDS[0], RECORDS[1]
    column = FAST[0]
    unknown = {"machine": "none", "capability": "none"}
    assert differential.check(RECORDS, {column: a["columns"][column]}, a["cpu"]) == []
    assert differential.check(RECORDS, {column: b["columns"][column]}, a["cpu"]) != []
    assert differential.check(RECORDS, {column: b["columns"][column]}, b["cpu"]) == []
    assert differential.check(RECORDS, {column: a["columns"][column]}, unknown) == []
    archs = b["columns"][column]["archs"]
    moved = {column: {**b["columns"][column], "archs": {
        arch: {**scores, "nwot": scores["nwot"] * (1 + 1e-5)} for arch, scores in archs.items()}}}
    assert any(" nwot: " in line for line in differential.check(RECORDS, moved, unknown))
