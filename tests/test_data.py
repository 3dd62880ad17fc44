"""Data layer: benchmark tables in both value layouts, partial pickles, truth CSVs, sampling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from swapbench.data.benchmarks import load_json, load_truth
from swapbench.data.datadir import resolve_data_dir
from swapbench.data.images import load_imagenet16, load_images, make_batch
from swapbench.errors import DataError, EncodingError, SwapbenchError
from swapbench.spaces import get_space
from swapbench.study.sampling import sample_indices

NB201 = get_space("nb201")


def fake_data_dir(tmp_path, entries: dict) -> object:
    folder = tmp_path / "nas-bench-suite-zero"
    folder.mkdir(parents=True)
    (folder / "zc_nasbench201.json").write_text(json.dumps({"cifar10": entries}))
    return tmp_path


def test_both_value_layouts(tmp_path):
    entries = {
        "(0, 2, 3, 2, 3, 1)": {"val_accuracy": 86.0, "params": {"score": 0.6, "time": 1.0}, "flops": 88.0},
        "(2, 2, 2, 2, 2, 2)": {"val_accuracy": {"score": 90.0, "time": 0.0}, "params": 1.5, "flops": 100.0},
        "(3, 3, 3, 3, 3, 3)": {"val_accuracy": 70.0, "params": {"score": 1.0, "time": 1.0}, "flops": 90.0},
    }
    truth = load_truth(NB201, "cifar10", fake_data_dir(tmp_path, entries))
    assert truth.keys == list(entries)
    assert truth.accuracy.tolist() == [86.0, 90.0, 70.0]
    assert truth.stored["params"].tolist() == [0.6, 1.5, 1.0]
    assert truth.archs[1] == (2,) * 6


def test_corrupt_json(tmp_path):
    folder = tmp_path / "nas-bench-suite-zero"
    folder.mkdir()
    (folder / "zc_nasbench201.json").write_text('{"cifar10": {"(0, 1')
    load_json.cache_clear()
    with pytest.raises(DataError, match="not valid JSON"):
        load_truth(NB201, "cifar10", tmp_path)


def test_missing_table(tmp_path):
    with pytest.raises(DataError, match="missing"):
        load_truth(NB201, "cifar10", tmp_path)


def test_malformed_key_in_table(tmp_path):
    entries = {"(0, 2, 3)": {"val_accuracy": 1.0}}
    with pytest.raises(EncodingError, match="malformed NB201"):
        load_truth(NB201, "cifar10", fake_data_dir(tmp_path, entries))


def test_user_csv_in_any_encoding(tmp_path, synthetic_data_dir):
    data_dir = synthetic_data_dir  # NB201 indices are read from its index table
    csv = tmp_path / "mine.csv"
    csv.write_text("name,acc\n|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|,10.5\n"
                   "\"(2, 2, 2, 2, 2, 2)\",70\n777,55\n")
    truth = load_truth(NB201, "cifar10", data_dir, str(csv), "name", "acc")
    assert truth.keys[1] == "(2, 2, 2, 2, 2, 2)" and truth.keys[2] == "777"
    assert truth.archs[0] == (0, 1, 1, 1, 1, 1)
    assert truth.accuracy.tolist() == [10.5, 70.0, 55.0]
    with pytest.raises(DataError, match="no column"):
        load_truth(NB201, "cifar10", data_dir, str(csv), "arch", "acc")
    with pytest.raises(SwapbenchError, match="--arch-column"):
        load_truth(NB201, "cifar10", data_dir, str(csv))


@pytest.mark.slow  # the published tables
def test_builtin_full_space_truth(data_dir):
    truth = load_truth(NB201, "cifar100", data_dir, "nb201-200ep-test")
    assert len(truth) == 15625
    assert truth.accuracy.max() == pytest.approx(73.51, abs=0.01)
    nbsz = load_truth(NB201, "cifar100", data_dir)
    assert len(nbsz) == 725


def test_partial_cifar_pickles(any_data_dir):
    data_dir = any_data_dir
    c10 = load_images("cifar10", data_dir)
    assert c10.images.shape[1:] == (3, 32, 32) and len(c10) == c10.labels.shape[0]
    assert len(c10) % 10000 != 0  # partial files are read as they are
    c100 = load_images("cifar100", data_dir)
    assert int(c100.labels.max()) <= 99 and not c100.substitute
    in16 = load_images("imagenet16-120", data_dir)
    assert in16.images.shape[1:] == (3, 16, 16) and in16.substitute
    assert int(in16.labels.min()) >= 0 and int(in16.labels.max()) < 120


@pytest.mark.slow  # the real ImageNet16 files
def test_imagenet16_val_split(data_dir):
    train, val = load_imagenet16(data_dir), load_imagenet16(data_dir, split="val")
    assert val.images.shape[1:] == (3, 16, 16) and (val.mean, val.std) == (train.mean, train.std)
    assert val.name != train.name and len(torch.unique(val.labels)) > len(torch.unique(train.labels))
    with pytest.raises(SwapbenchError, match="split"):
        load_imagenet16(data_dir, split="test")


def test_batches_are_deterministic_and_normalised(any_data_dir):
    images = load_images("cifar10", any_data_dir)
    a, ya = make_batch(images, 16, torch.Generator().manual_seed(3))
    b, yb = make_batch(images, 16, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(ya, yb)
    assert a.shape == (16, 3, 32, 32) and abs(float(a.mean())) < 1.0
    c, _ = make_batch(images, 16, torch.Generator().manual_seed(3), augment=True)
    assert c.shape == a.shape and not torch.equal(a, c)
    with pytest.raises(SwapbenchError, match="exceeds"):
        make_batch(images, 10**6, torch.Generator())


def test_sampling():
    assert sample_indices(100, 10, 0) == sample_indices(100, 10, 0)
    assert sample_indices(100, 10, 0) != sample_indices(100, 10, 1)
    assert len(set(sample_indices(100, 10, 0))) == 10
    assert sorted(sample_indices(5, 10, 0)) == [0, 1, 2, 3, 4]  # a whole table, in a seeded order
    assert sample_indices(725, 1000, 0) != sample_indices(725, 1000, 1)
    assert np.all(np.array(sample_indices(15625, 1000, 4)) < 15625)


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("SWAPBENCH_DATA", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir(tmp_path / "x", must_exist=False) == tmp_path / "x"
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_dir(tmp_path / "nope")
