"""The synthetic data dir (tests/synthetic.py) passes the project's own checks: `swapbench data status` sees every
table and image set, and the normal loaders read every truth table and image set in it."""

from __future__ import annotations

import synthetic
import torch
from conftest import run_main

from swapbench.data.benchmarks import load_truth, truth_names
from swapbench.data.images import DATASETS, load_images, make_batch
from swapbench.data.inventory import inventory
from swapbench.data.sources import source_state
from swapbench.spaces import get_space, list_spaces

NBSZ_TABLES = {"zc_nasbench101.json": 1, "zc_nasbench201.json": 3, "zc_nasbench301.json": 1,
               "zc_transbench101_micro.json": 7, "zc_transbench101_macro.json": 7}  # file -> tasks


def test_data_status_sees_every_table_and_image_set(synthetic_data_dir):
    proc = run_main(["data", "status", "--data-dir", str(synthetic_data_dir)])
    assert proc.returncode == 0, proc.stderr
    assert "15625 archs" in proc.stdout and "CORRUPT" not in proc.stdout and "unusable" not in proc.stdout
    frame = inventory(synthetic_data_dir)
    tables = frame[frame["kind"] == "truth+proxies"]
    for file, tasks in NBSZ_TABLES.items():
        rows = tables[tables["item"] == f"nas-bench-suite-zero/{file}"]
        assert len(rows) == tasks, file
        for count in rows["count"]:
            archs, usable = count.split(", ")
            n = int(archs.split()[0])
            # NB101: one network is listed under two raw specs, so one row fewer is usable
            assert usable == f"{n - synthetic.NB101_REPEATS if file == 'zc_nasbench101.json' else n} usable", count
    full = frame[frame["kind"] == "truth (full space)"].set_index("item")["count"]
    assert full["nas-bench-201/nb201_all_15625_12epoch.csv"] == "15625 archs"
    assert full["nas-bench-201/nb201_all_15625_200epoch_test.csv"] == "15625 archs"
    assert full["nas-bench-suite-zero/zen/"] == f"{5 * len(synthetic.TNB_TASKS)} files"
    images = frame[frame["kind"].str.startswith("images (")]
    assert len(images) == len(DATASETS) + 1 and "missing" not in set(images["count"])  # + the taskonomy sample
    states = {name: source_state(synthetic_data_dir, name).state for name in
              ("nbsz", "nb201", "cifar10", "cifar100", "imagenet16")}
    assert states == {"nbsz": "present", "nb201": "present", "cifar10": "partial", "cifar100": "partial",
                      "imagenet16": "substitute"}


def test_every_truth_table_loads(synthetic_data_dir):
    for name in list_spaces():
        space = get_space(name)
        for task in space.tasks:
            for truth in truth_names(space):
                table = load_truth(space, task, synthetic_data_dir, truth)
                assert len(table) >= 3 and table.accuracy.std() > 0, (name, task, truth)
                if truth == "nbsz":
                    expected = synthetic.ARCHS.get(name, synthetic.ARCHS["nb301"])  # darts reads the NB301 table
                    assert len(table) == expected and set(table.stored) >= {"params", "flops"}, (name, task)
                elif name == "nb201":
                    assert len(table) == synthetic.NB201_ALL
                else:
                    assert len(table) == 4 ** 6  # every TransNAS-Bench-101 micro cell


def test_every_image_set_loads(synthetic_data_dir):
    sizes = {"cifar10": (synthetic.CIFAR_TRAIN, 32), "cifar100": (synthetic.CIFAR_TRAIN, 32),
             "imagenet16-120": (synthetic.IMAGENET16_TRAIN, 16), "taskonomy": (synthetic.NATURAL_IMAGES, 256)}
    assert set(sizes) == set(DATASETS)
    for name, (n, side) in sizes.items():
        images = load_images(name, synthetic_data_dir)
        assert images.images.shape == (n, 3, side, side) and images.images.dtype == torch.uint8, name
        assert images.substitute == (name in ("imagenet16-120", "taskonomy")), name
        x, _ = make_batch(images, 8, torch.Generator().manual_seed(0))
        assert x.shape == (8, 3, side, side) and torch.isfinite(x).all()
    assert int(load_images("cifar100", synthetic_data_dir).labels.unique().numel()) == 100
