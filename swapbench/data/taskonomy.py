"""Input images for TransNAS-Bench-101: real Taskonomy RGB frames, or a labelled substitute.

Real Taskonomy: a `taskonomy/` folder in the data dir holding RGB frames as PNG/JPEG, in any of the
release layouts (`taskonomy/<building>/rgb/point_*_domain_rgb.png`, `taskonomy/rgb/<building>/...`,
`taskonomy/<building>_rgb/rgb/...`, or a flat folder). Only files whose path mentions `rgb` are used when
there are any (the other Taskonomy domains share the layout). TransNAS-Bench-101 trains on building
`benevolence`; when it is present (and large enough) only its frames are used. The label of an image is
the index of its building.

Substitute: `natural-images-256/` (250 ImageNet photographs, 256x256 JPEG, named `<synset>_<name>.jpg`),
labelled by synset and flagged `substitute=True`.

Images are resized to 256x256 (bilinear) and normalised with mean = std = 0.5, the normalisation of the
autoencoder, normal and segmentsemantic tasks; the TNB space's `prepare_batch` converts to the other
tasks' conventions (class_*/room_layout statistics, jigsaw tiles in [0, 1]).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from swapbench.data.imageset import TRAIN_PORTION, ImageSet
from swapbench.errors import DataError
from swapbench.spaces.tnb101 import PIXEL_MEAN, PIXEL_STD  # the TNB101 networks' input convention

SIZE = 256
REAL_FOLDER = "taskonomy"
SUBSTITUTE_FOLDER = "natural-images-256"
TRAIN_BUILDING = "benevolence"
DEFAULT_BATCH = 32  # TransNAS-Bench-101 / NAS-Bench-Suite-Zero batch size
MIN_IMAGES = int(np.ceil(DEFAULT_BATCH / TRAIN_PORTION))  # enough for one default batch from the train part
SUFFIXES = (".png", ".jpg", ".jpeg")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def _decode(paths: tuple[Path, ...]) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        raise DataError("reading Taskonomy / natural images needs Pillow (pip install pillow)") from None
    out = np.empty((len(paths), 3, SIZE, SIZE), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                rgb = img.convert("RGB")
                if rgb.size != (SIZE, SIZE):
                    rgb = rgb.resize((SIZE, SIZE), Image.BILINEAR)
                out[i] = np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)
        except OSError as exc:
            raise DataError(f"cannot read image {path}: {exc}") from None
    return out


@lru_cache(maxsize=4)
def _load_folder(folder: str, files: tuple[str, ...], labels: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = _decode(tuple(Path(folder) / f for f in files))
    return torch.from_numpy(pixels), torch.tensor(labels, dtype=torch.int64)


def _building(path: Path, root: Path) -> str:
    """The building a Taskonomy frame belongs to: the first path part that is not a domain folder."""
    for part in path.relative_to(root).parts[:-1]:
        name = part[: -len("_rgb")] if part.endswith("_rgb") else part
        if name not in ("rgb", "taskonomy", ""):
            return name
    return "unknown"


def taskonomy_files(root: Path) -> tuple[list[Path], list[int]]:
    """RGB frames under `root` and their building labels (see the module docstring)."""
    files = _image_files(root)
    rgb = [p for p in files if "rgb" in str(p.relative_to(root)).lower()]
    files = rgb or files
    buildings = [_building(p, root) for p in files]
    train = [p for p, b in zip(files, buildings, strict=True) if b == TRAIN_BUILDING]
    if len(train) >= MIN_IMAGES:
        files, buildings = train, [TRAIN_BUILDING] * len(train)
    index = {b: i for i, b in enumerate(sorted(set(buildings)))}
    return files, [index[b] for b in buildings]


def load_taskonomy_folder(root: Path, name: str = "taskonomy") -> ImageSet:
    """Real Taskonomy RGB frames under `root` (no minimum count; used for smoke tests too)."""
    files, labels = taskonomy_files(root)
    if not files:
        raise DataError(f"no PNG/JPEG images under {root}")
    pixels, lab = _load_folder(str(root), tuple(str(p.relative_to(root)) for p in files), tuple(labels))
    return ImageSet(name, pixels, lab, PIXEL_MEAN, PIXEL_STD, len(set(labels)), str(root), crop_padding=0)


def load_natural_images(folder: Path, name: str = "taskonomy") -> ImageSet:
    """The 256x256 ImageNet substitute, labelled by the synset prefix of each file name."""
    files = _image_files(folder) if folder.is_dir() else []
    if not files:
        raise DataError(f"no images under {folder}")
    synsets = [p.name.split("_", 1)[0] for p in files]
    index = {s: i for i, s in enumerate(sorted(set(synsets)))}
    labels = tuple(index[s] for s in synsets)
    pixels, lab = _load_folder(str(folder), tuple(p.name for p in files), labels)
    return ImageSet(name, pixels, lab, PIXEL_MEAN, PIXEL_STD, len(index), str(folder), substitute=True,
                    crop_padding=0)


def load_taskonomy(data_dir: Path) -> ImageSet:
    """Real Taskonomy if `taskonomy/` holds at least MIN_IMAGES frames, else the natural-images substitute."""
    real = data_dir / REAL_FOLDER
    if real.is_dir():
        files, _ = taskonomy_files(real)
        if len(files) >= MIN_IMAGES:
            return load_taskonomy_folder(real)
    sub = data_dir / SUBSTITUTE_FOLDER
    if not sub.is_dir():
        raise DataError(
            f"no Taskonomy images under {data_dir}: need {REAL_FOLDER}/ with at least {MIN_IMAGES} RGB frames "
            f"or the substitute {SUBSTITUTE_FOLDER}/"
        )
    return load_natural_images(sub)
