"""bench.fig4_table: the README's Fig. 4 tables from stored gaps.csv / summary.csv / run.json."""

from __future__ import annotations

import json

import pandas as pd

from bench.fig4_table import swap_table, table


def _run(tmp_path, name, protocol, rows, at_ceiling=None, seeds=5):
    run = tmp_path / name
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"study": {"protocol": protocol}}))
    gaps = pd.DataFrame([dict(space=s, task=t, proxy=p, ours=v, ours_lo=lo, ours_hi=hi, n=200, seeds=seeds,
                              reference=ref, abs_diff=abs(v - ref), reproduced=lo <= ref <= hi)
                         for s, t, p, v, lo, hi, ref, _ in rows])
    gaps.to_csv(run / "gaps.csv", index=False)
    pd.DataFrame([dict(space=s, task=t, proxy=p, spearman_std=sd, input="substitute" if s == "tnb101_micro"
                       else "real", at_ceiling=(at_ceiling or {}).get(p)) for s, t, p, *_, sd in rows]).to_csv(
        run / "summary.csv", index=False)
    return str(run)


def test_swap_table_cells_bold_scope_and_paper_values(tmp_path):
    reference = tmp_path / "ref.csv"
    reference.write_text("proxy,space,task,spearman\nswap,nb201,cifar10,0.76\nreg_swap,nb201,cifar10,0.87\n"
                         "swap,tnb101_micro,jigsaw,0.43\nreg_swap,tnb101_micro,jigsaw,0.47\n")
    paper = _run(tmp_path, "paper", "paper", [("nb201", "cifar10", "swap", 0.75, 0.71, 0.78, 0.76, 0.026),
                                              ("nb201", "cifar10", "reg_swap", 0.81, 0.78, 0.83, 0.87, 0.022)])
    official = _run(tmp_path, "official", "swap-official",
                    [("nb201", "cifar10", "swap", 0.55, 0.42, 0.65, 0.76, 0.02),
                     ("nb201", "cifar10", "reg_swap", 0.884, 0.864, 0.898, 0.87, 0.013)], at_ceiling={"swap": 0.97},
                    seeds=2)
    tnb = _run(tmp_path, "tnb", "paper", [("tnb101_micro", "class_scene", "swap", 0.589, 0.537, 0.632, 0.57, 0.052)])
    lines = swap_table([paper, official, tnb], str(reference)).splitlines()
    assert lines[0] == ("| column | swap, `paper` | reg_swap, `paper` | swap, `swap-official` | "
                        "reg_swap, `swap-official` | paper swap / reg_swap |")
    assert lines[2] == ("| NB201 C10 | **0.750 ± 0.026 [0.710, 0.780]** | 0.810 ± 0.022 [0.780, 0.830] | "
                        "0.550 ± 0.020 [0.420, 0.650] (2 seeds) ‡ 97 % | **0.884 ± 0.013 [0.864, 0.898]** (2 seeds) | "
                        "0.76 / 0.87 |")  # fewer seeds than the table's 5: said
    # TransNAS-Bench-101 columns: outside swap-official's scope, so "—" there, not "not run yet"; inputs named
    assert lines[3] == ("| TNB-micro scene (substitute images) | **0.589 ± 0.052 [0.537, 0.632]** | not run yet | "
                        "— | — | — / — |")
    assert lines[4] == "| TNB-micro jigsaw | not run yet | not run yet | — | — | 0.43 / 0.47 |"
    # a cell whose SWAP mostly sits at its ceiling is marked, and the mark explained under the table
    assert lines[-4].startswith("‡ SWAP within 1 % of its ceiling") and lines[-5] == ""
    # then the counts per protocol, real-image and TransNAS-Bench-101 columns apart (reg_swap misses by 0.06)
    assert lines[-3:] == ["", "`paper`: NB101/NB201/NB301 1 of 2 reproduced, 1 within ±0.05; "
                          "TransNAS-Bench-101 1 of 1 reproduced, 1 within ±0.05.",
                          "`swap-official`: NB101/NB201/NB301 1 of 2 reproduced, 1 within ±0.05."]


def test_every_metric_table_orders_by_mean_and_marks_undefined(tmp_path):
    gaps = pd.DataFrame([
        dict(space="nb201", task="cifar10", proxy="nwot", ours=0.8, ours_lo=0.7, ours_hi=0.9, reference=0.77,
             reproduced=True),
        dict(space="nb201", task="cifar10", proxy="num_lr", ours=float("nan"), ours_lo=float("nan"),
             ours_hi=float("nan"), reference=0.07, reproduced=False),
        dict(space="nb201", task="cifar10", proxy="plain", ours=-0.2, ours_lo=-0.3, ours_hi=-0.1,
             reference=0.1, reproduced=False)])
    assert table(gaps).splitlines() == [
        "| metric | NB201 C10 |", "|---|---|", "| nwot | **0.80 [0.70, 0.90] / 0.77** |",
        "| plain | -0.20 [-0.30, -0.10] / 0.10 |", "| num_lr | — / 0.07 |"]


def test_gap_sources_split_a_gap_into_fidelity_sample_and_rest(synthetic_data_dir):
    """Ours equal to the stored scores: fidelity 0, the rest of the gap is the sample and the remainder; ours
    reversed: fidelity is -2x the stored ranking; failure values and archs outside the table drop out."""
    from scipy.stats import spearmanr

    from bench.fig4_gap_sources import column_sources
    from swapbench.data.benchmarks import load_truth
    from swapbench.spaces import get_space

    table = load_truth(get_space("nb201"), "cifar10", synthetic_data_dir)
    stored, acc = table.stored["params"], table.accuracy
    keys = table.keys[:12]
    rows = [dict(space="nb201", task="cifar10", seed=0, arch=k, proxy=p, score=s * table.stored[p][i],
                 accuracy=acc[i])
            for i, k in enumerate(keys) for p, s in (("params", 1.0), ("snip", -1.0))]
    rows.append(dict(space="nb201", task="cifar10", seed=0, arch=keys[0], proxy="fisher", score=-1e8,
                     accuracy=acc[0]))
    out = {r["metric"]: r for r in column_sources(pd.DataFrame(rows), "nb201", "cifar10",
                                                   {"params": 0.5}, synthetic_data_dir)}
    sub = spearmanr(stored[:12], acc[:12]).statistic
    full = spearmanr(stored, acc).statistic
    p = out["params"]
    assert (p["n_scored"], p["n_overlap"], p["n_table"]) == (12, 12, len(table))
    assert p["fidelity"] == 0 and abs(p["sample"] - (sub - full)) < 1e-12 and abs(p["rest"] - (full - 0.5)) < 1e-12
    assert p["stored_all_lo"] <= full <= p["stored_all_hi"]
    # ours on snip are the negation of the stored snip scores
    s_sub = spearmanr(table.stored["snip"][:12], acc[:12]).statistic
    assert abs(out["snip"]["fidelity"] + 2 * s_sub) < 1e-12 and pd.isna(out["snip"]["rest"])  # no paper value
    assert pd.isna(out["fisher"]["ours"])  # its one score is the failure value
