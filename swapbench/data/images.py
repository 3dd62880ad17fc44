"""Image sets in their original on-disk formats, and the batch policies.

Partial files are normal (the data dir may hold only the first rows of each pickle): the row count is
read from the file, and no checksums are verified.

Batch policies (recorded in run.json):
- ``fixed`` (default): one batch per seed, drawn from the first 70 % of the training images without
  augmentation, shared by every architecture. This is what the official SWAP correlation script does
  (one fixed batch) and it makes each score a function of (seed, architecture) only, so architectures
  are compared on identical inputs.
- ``per-arch``: a fresh batch for every architecture, with NAS-Bench-Suite-Zero's training augmentation
  (random crop with padding, horizontal flip), as NAS-Bench-Suite-Zero computed its tables.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from swapbench.data.imageset import TRAIN_PORTION, ImageSet
from swapbench.errors import DataError, SwapbenchError

# fixed: one random batch per seed, shared by every architecture; per-arch: a fresh augmented batch per
# architecture (NAS-Bench-Suite-Zero); first: the first training images in file order, as a loader without
# shuffling gives them (the official SWAP correlation script)
BATCH_POLICIES = ("fixed", "per-arch", "first")


def _unpickle(path: Path, encoding: str = "bytes") -> dict:
    if not path.exists():
        from swapbench.data.sources import missing_hint

        raise DataError(f"image file {path} is missing; {missing_hint(path)}")
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding=encoding)
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise DataError(f"image file {path} is not a readable pickle ({exc})") from None


def _get(d: dict, key: str):
    return d[key] if key in d else d[key.encode()]


def _cifar(folder: Path, files: list[str], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    data, labels = [], []
    for name in files:
        entry = _unpickle(folder / name)
        data.append(np.asarray(_get(entry, "data"), dtype=np.uint8))
        labels.extend(_get(entry, label_key))
    arr = np.concatenate(data).reshape(-1, 3, 32, 32)
    return arr, np.asarray(labels, dtype=np.int64)


def load_cifar10(data_dir: Path) -> ImageSet:
    folder = data_dir / "cifar-10-batches-py"
    imgs, labels = _cifar(folder, [f"data_batch_{i}" for i in range(1, 6)], "labels")
    return ImageSet("cifar10", torch.from_numpy(imgs), torch.from_numpy(labels),
                    (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 10, str(folder))


def load_cifar100(data_dir: Path) -> ImageSet:
    folder = data_dir / "cifar-100-python"
    imgs, labels = _cifar(folder, ["train"], "fine_labels")
    return ImageSet("cifar100", torch.from_numpy(imgs), torch.from_numpy(labels),
                    (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), 100, str(folder))


def load_imagenet16(data_dir: Path, num_classes: int = 120, split: str = "train") -> ImageSet:
    """NB201's downsampled ImageNet (planar 16x16, 1-based labels); the real set if present, else the
    reconstructed substitute. `split="val"` reads `val_data` instead of the training batches: the
    substitute's training images cover only some classes, its val images all of them."""
    if split not in ("train", "val"):
        raise SwapbenchError(f"unknown ImageNet16 split '{split}'; use train or val")
    real, recon = data_dir / "ImageNet16", data_dir / "ImageNet16-reconstructed"
    folder = real if real.is_dir() else recon
    if not folder.is_dir():
        from swapbench.data.sources import missing_hint

        raise DataError(f"no ImageNet16 images under {data_dir} (looked for ImageNet16/ and {recon.name}/); "
                        f"{missing_hint(real)}")
    data, labels = [], []
    files = [f"train_data_batch_{i}" for i in range(1, 11)] if split == "train" else ["val_data"]
    for name in files:
        path = folder / name
        if path.exists() or split == "val":  # a missing val_data is reported by _unpickle
            entry = _unpickle(path, encoding="latin1")
            data.append(np.asarray(entry["data"], dtype=np.uint8))
            labels.extend(entry["labels"])
    if not data:
        raise DataError(f"{folder} has no train_data_batch_* files")
    imgs = np.concatenate(data).reshape(-1, 3, 16, 16)
    lab = np.asarray(labels, dtype=np.int64) - 1
    keep = lab < num_classes
    return ImageSet(
        f"imagenet16-{num_classes}" + ("" if split == "train" else "-val"),
        torch.from_numpy(imgs[keep]),
        torch.from_numpy(lab[keep]),
        tuple(v / 255 for v in (122.68, 116.66, 104.01)),
        tuple(v / 255 for v in (63.22, 61.26, 65.09)),
        num_classes,
        str(folder),
        substitute=folder == recon,
        crop_padding=2,
    )


# name -> (loader, files that must exist for `data status`)
DATASETS: dict[str, Callable[[Path], ImageSet]] = {
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "imagenet16-120": load_imagenet16,
}


@lru_cache(maxsize=8)
def _load_cached(name: str, data_dir: str) -> ImageSet:
    return DATASETS[name](Path(data_dir))


def load_images(name: str, data_dir: Path) -> ImageSet:
    if name not in DATASETS:
        raise SwapbenchError(f"unknown image set '{name}'; known: {', '.join(DATASETS)}")
    return _load_cached(name, str(Path(data_dir).resolve()))


def _augment(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding, then random horizontal flip (per image)."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=gen)
    flips = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        dy, dx = int(offsets[i, 0]), int(offsets[i, 1])
        img = padded[i, :, dy : dy + h, dx : dx + w]
        out[i] = img.flip(-1) if flips[i] else img
    return out


def make_batch(
    images: ImageSet, size: int, gen: torch.Generator, augment: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """A normalised float batch of `size` training images drawn without replacement."""
    pool = max(1, int(len(images) * TRAIN_PORTION))
    if size > pool:
        raise SwapbenchError(
            f"batch size {size} exceeds the {pool} training images available in {images.source}"
        )
    idx = torch.randperm(pool, generator=gen)[:size]
    x = images.images[idx].float() / 255.0
    if augment:
        x = _augment(x, images.crop_padding, gen)
    mean = torch.tensor(images.mean).view(1, -1, 1, 1)
    std = torch.tensor(images.std).view(1, -1, 1, 1)
    return (x - mean) / std, images.labels[idx].clone()


def first_batch(images: ImageSet, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `size` training images in file order, normalised, not augmented."""
    if size > len(images):
        raise SwapbenchError(f"batch size {size} exceeds the {len(images)} training images in {images.source}")
    x = images.images[:size].float() / 255.0
    mean = torch.tensor(images.mean).view(1, -1, 1, 1)
    std = torch.tensor(images.std).view(1, -1, 1, 1)
    return (x - mean) / std, images.labels[:size].clone()


def _load_taskonomy(data_dir: Path) -> ImageSet:
    """TransNAS-Bench-101 inputs: real Taskonomy frames, else the natural-images substitute."""
    from swapbench.data.taskonomy import load_taskonomy  # imported on use: it brings in the TNB101 space

    return load_taskonomy(data_dir)


DATASETS["taskonomy"] = _load_taskonomy
