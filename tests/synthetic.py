"""A small benchmark data directory in the on-disk formats the loaders read, with made-up accuracies and random
images, so end-to-end runs work without the real data (see ../shared/data/README.md for the real layout).

`build_data_dir(root)` writes:

- nas-bench-suite-zero/zc_nasbench{101,201,301}.json, zc_transbench101_{micro,macro}.json: NAS-Bench-Suite-Zero
  tables (`{task: {ENC: {val_accuracy, params, flops, ...}}}`, NB101 under `nasbench101`) over architectures
  drawn with each space's `random_arch` and written in the space's own encoding (NB101 as raw 7-vertex specs,
  two of which prune to one network listed with different accuracies, as in the published table);
  stored proxy values are numbers (NB101) or `{score, time}`. NB201 accuracies grow with the number of
  convolutions (so size-like metrics correlate with them), the others are random.
- nas-bench-suite-zero/zen/benchmark--transbench101_micro--TASK--K.json: all 4096 micro archs per task.
- nas-bench-201/nb201_all_15625_{200epoch_test,12epoch}.csv: every NB201 cell, in a shuffled index order.
- cifar-10-batches-py/, cifar-100-python/: the original python pickles (bytes keys), CIFAR_TRAIN train images.
- ImageNet16-reconstructed/: NB201's downsampled-ImageNet pickles (16x16, 1-based labels; a substitute, like the
  shared data dir's).
- natural-images-256/: NATURAL_IMAGES JPEGs named `<synset>_<name>.jpg` (64x64; the loader resizes to 256).
- taskonomy-rgb-sample/: TASKONOMY_SAMPLE PNG frames.
"""

from __future__ import annotations

import itertools
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from swapbench.spaces import get_space
from swapbench.spaces.nb101 import _padded
from swapbench.spaces.nb201 import OPS as NB201_OPS
from swapbench.spaces.nb201 import to_arch_str

ARCHS = {"nb101": 24, "nb201": 48, "nb301": 24, "tnb101_micro": 24, "tnb101_macro": 24}  # per task
NB101_REPEATS = 1  # networks listed twice (two raw specs) with different accuracies
NB201_ALL = 15625
CIFAR_TRAIN = 100  # per set; 70 % of it is the pool batches are drawn from (>= 64, the paper's batch size)
CIFAR10_FILES = 5
CIFAR_TEST = 20
IMAGENET16_TRAIN = 100
IMAGENET16_VAL = 120
NATURAL_IMAGES = 48  # >= 32 / 0.7: one TransNAS-Bench-101 default batch from the train part
TASKONOMY_SAMPLE = 3
TNB_TASKS = ("class_scene", "class_object", "autoencoder", "normal", "jigsaw", "room_layout", "segmentsemantic")
STORED = ("flops", "params", "synflow", "snip", "grad_norm", "fisher", "grasp", "jacov", "l2_norm", "plain",
          "epe_nas", "nwot")
NBSZ = "nas-bench-suite-zero"


def _distinct(space, count: int, rng: np.random.Generator) -> list:
    archs: dict[str, object] = {}
    while len(archs) < count:
        arch = space.random_arch(rng)
        archs.setdefault(space.canonical_key(arch), arch)
    return list(archs.values())


def _stored(rng: np.random.Generator, timed: bool) -> dict:
    values = {name: float(rng.normal(50, 20)) for name in STORED}
    if timed:
        return {name: {"score": v, "time": float(rng.uniform(0.1, 2))} for name, v in values.items()}
    return values


def _nb201_accuracy(arch, rng: np.random.Generator, top: float) -> float:
    convs = sum(NB201_OPS[op].startswith("nor_conv") for op in arch)
    nones = sum(NB201_OPS[op] == "none" for op in arch)
    return float(np.clip(top * (0.55 + 0.06 * convs - 0.04 * nones) + rng.normal(0, 1.5), 1, 99))


def _nbsz_tables(root: Path, rng: np.random.Generator) -> None:
    folder = root / NBSZ
    folder.mkdir(parents=True, exist_ok=True)

    nb201 = get_space("nb201")
    archs = _distinct(nb201, ARCHS["nb201"], rng)
    table = {}
    for task, top in (("cifar10", 94.0), ("cifar100", 73.0), ("ImageNet16-120", 47.0)):
        table[task] = {nb201.canonical_key(a): {"idx": str(i), "arch": nb201.canonical_key(a),
                                                "val_accuracy": _nb201_accuracy(a, rng, top), **_stored(rng, True)}
                       for i, a in enumerate(archs)}
    (folder / "zc_nasbench201.json").write_text(json.dumps(table))

    nb101 = get_space("nb101")
    entries = {}
    archs = _distinct(nb101, ARCHS["nb101"], rng)
    for arch in archs:
        matrix, ops = _padded(arch, rng)
        entries[str((*matrix.ravel().tolist(), *ops))] = {"val_accuracy": float(rng.uniform(80, 94)),
                                                          **_stored(rng, False)}
    repeats = 0
    for arch in archs:  # another raw spec of a network with fewer than 7 vertices: the same network
        if repeats == NB101_REPEATS or len(arch[1]) == 7:
            continue
        for _ in range(20):
            matrix, ops = _padded(arch, rng)
            key = str((*matrix.ravel().tolist(), *ops))
            if key not in entries:
                entries[key] = {"val_accuracy": float(rng.uniform(80, 94)), **_stored(rng, False)}
                repeats += 1
                break
    assert repeats == NB101_REPEATS, "no NB101 network with a second raw spec was drawn"
    (folder / "zc_nasbench101.json").write_text(json.dumps({"nasbench101": {"cifar10": entries}}))

    nb301 = get_space("nb301")
    archs = _distinct(nb301, ARCHS["nb301"], rng)
    table = {"cifar10": {nb301.canonical_key(a): {"idx": str(i), "arch": nb301.canonical_key(a),
                                                  "val_accuracy": float(rng.uniform(90, 95)), **_stored(rng, True)}
                         for i, a in enumerate(archs)}}
    (folder / "zc_nasbench301.json").write_text(json.dumps(table))

    for name, file in (("tnb101_micro", "zc_transbench101_micro.json"),
                       ("tnb101_macro", "zc_transbench101_macro.json")):
        space = get_space(name)
        archs = _distinct(space, ARCHS[name], rng)
        table = {task: {space.canonical_key(a): {"idx": str(i), "arch": space.canonical_key(a),
                                                 "val_accuracy": float(rng.uniform(0, 60)), **_stored(rng, True)}
                        for i, a in enumerate(archs)}
                 for task in TNB_TASKS}
        (folder / file).write_text(json.dumps(table))

    zen = folder / "zen"
    zen.mkdir(exist_ok=True)
    micro = [tuple(int(v) for v in a) for a in np.ndindex(4, 4, 4, 4, 4, 4)]
    for task in TNB_TASKS:
        accuracy = rng.uniform(0, 60, len(micro))
        for start in range(0, len(micro), 1000):
            records = [{"idx": str(i), "arch": str(micro[i]), "zen": {"score": float(accuracy[i] * 2), "time": 1.0},
                        "val_accuracy": float(accuracy[i])} for i in range(start, min(start + 1000, len(micro)))]
            (zen / f"benchmark--transbench101_micro--{task}--{start}.json").write_text(json.dumps(records))


def _nb201_csvs(root: Path, rng: np.random.Generator) -> None:
    folder = root / "nas-bench-201"
    folder.mkdir(parents=True, exist_ok=True)
    cells = list(itertools.product(range(len(NB201_OPS)), repeat=6))
    order = rng.permutation(NB201_ALL)  # row i (the NB201 index i) is cell order[i]
    strings = [to_arch_str(cells[i]) for i in order]
    base = np.array([_nb201_accuracy(cells[i], rng, 100.0) for i in order]) / 100
    tops = {"c10": 94.37, "c100": 73.51, "in16": 47.31}
    frame = pd.DataFrame({
        "CIFAR10TestAccuracy200Epochs": base * tops["c10"] / base.max(),
        "CIFAR100TestAccuracy200Epochs": base * tops["c100"] / base.max(),
        "ImageNetTestAccuracy200Epochs": base * tops["in16"] / base.max(),
        "ArchitectureString": strings,
        "UniqueString": [f"u{i}" for i in order],
    })
    frame.to_csv(folder / "nb201_all_15625_200epoch_test.csv", index=False)
    noise = lambda: rng.normal(0, 2, NB201_ALL)  # noqa: E731
    twelve = pd.DataFrame({
        "arch": np.arange(NB201_ALL), "cellstr": strings,
        "cifar10-test": base * 85 + noise(), "cifar10-val": base * 80 + noise(),
        "cifar100-test": base * 55 + noise(), "cifar100-val": base * 55 + noise(),
        "imagenet-test": base * 30 + noise(), "imagenet-val": base * 30 + noise(),
    })
    twelve.to_csv(folder / "nb201_all_15625_12epoch.csv", index=False)


def _images(rng: np.random.Generator, n: int, side: int) -> np.ndarray:
    """Smooth random colour images (noise, blurred by upsampling a coarse grid), uint8 (n, 3, side, side)."""
    coarse = rng.integers(0, 256, (n, 3, side // 4, side // 4)).astype(np.float32)
    fine = coarse.repeat(4, axis=2).repeat(4, axis=3) + rng.normal(0, 12, (n, 3, side, side))
    return np.clip(fine, 0, 255).astype(np.uint8)


def _pickle(path: Path, entry: dict) -> None:
    with open(path, "wb") as fh:
        pickle.dump(entry, fh, protocol=2)


def _cifar(root: Path, rng: np.random.Generator) -> None:
    c10 = root / "cifar-10-batches-py"
    c10.mkdir(parents=True, exist_ok=True)
    per_file = CIFAR_TRAIN // CIFAR10_FILES
    for i in range(1, CIFAR10_FILES + 1):
        _pickle(c10 / f"data_batch_{i}", {
            b"batch_label": f"training batch {i} of 5".encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_file)],
            b"data": _images(rng, per_file, 32).reshape(per_file, -1),
            b"filenames": [f"img_{i}_{k}.png".encode() for k in range(per_file)],
        })
    _pickle(c10 / "test_batch", {b"batch_label": b"testing batch 1 of 1",
                                 b"labels": [int(v) for v in rng.integers(0, 10, CIFAR_TEST)],
                                 b"data": _images(rng, CIFAR_TEST, 32).reshape(CIFAR_TEST, -1),
                                 b"filenames": [f"test_{k}.png".encode() for k in range(CIFAR_TEST)]})
    _pickle(c10 / "batches.meta", {b"label_names": [f"class{k}".encode() for k in range(10)],
                                   b"num_cases_per_batch": 10000, b"num_vis": 3072})

    c100 = root / "cifar-100-python"
    c100.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", CIFAR_TRAIN), ("test", CIFAR_TEST)):
        fine = np.arange(n) % 100 if name == "train" else rng.integers(0, 100, n)
        _pickle(c100 / name, {b"filenames": [f"{name}_{k}.png".encode() for k in range(n)],
                              b"batch_label": f"{name}ing batch 1 of 1".encode(),
                              b"fine_labels": [int(v) for v in rng.permutation(fine)],
                              b"coarse_labels": [int(v) // 5 for v in fine],
                              b"data": _images(rng, n, 32).reshape(n, -1)})
    _pickle(c100 / "meta", {b"fine_label_names": [f"fine{k}".encode() for k in range(100)],
                            b"coarse_label_names": [f"coarse{k}".encode() for k in range(20)]})


def _imagenet16(root: Path, rng: np.random.Generator) -> None:
    folder = root / "ImageNet16-reconstructed"
    folder.mkdir(parents=True, exist_ok=True)
    _pickle(folder / "train_data_batch_1", {"data": _images(rng, IMAGENET16_TRAIN, 16).reshape(IMAGENET16_TRAIN, -1),
                                            "labels": [int(v) for v in rng.integers(1, 121, IMAGENET16_TRAIN)]})
    _pickle(folder / "val_data", {"data": _images(rng, IMAGENET16_VAL, 16).reshape(IMAGENET16_VAL, -1),
                                  "labels": list(range(1, 121))})


def _pictures(root: Path, rng: np.random.Generator) -> None:
    from PIL import Image

    natural = root / "natural-images-256"
    natural.mkdir(parents=True, exist_ok=True)
    for k, pixels in enumerate(_images(rng, NATURAL_IMAGES, 64)):
        Image.fromarray(pixels.transpose(1, 2, 0)).save(natural / f"n{1440764 + 97 * k:08d}_thing{k}.jpg",
                                                        quality=90)
    sample = root / "taskonomy-rgb-sample"
    sample.mkdir(parents=True, exist_ok=True)
    for k, pixels in enumerate(_images(rng, TASKONOMY_SAMPLE, 64)):
        name = "taskbank_test.png" if k == 0 else f"taskbank_test_{k}.png"
        Image.fromarray(pixels.transpose(1, 2, 0)).save(sample / name)


def build_data_dir(root: str | Path, seed: int = 0) -> Path:
    """Write the synthetic data dir under `root` (created if needed) and return it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    _nbsz_tables(root, rng)
    _nb201_csvs(root, rng)
    _cifar(root, rng)
    _imagenet16(root, rng)
    _pictures(root, rng)
    return root
