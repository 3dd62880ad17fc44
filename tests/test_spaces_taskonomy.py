"""TransNAS-Bench-101 inputs: real Taskonomy frames when present, else the labelled natural-image substitute."""

from __future__ import annotations

import shutil

import pytest
import torch

from swapbench.data.images import DATASETS, load_images, make_batch
from swapbench.data.taskonomy import MIN_IMAGES, load_taskonomy, load_taskonomy_folder
from swapbench.errors import DataError
from swapbench.spaces import get_space


@pytest.mark.slow  # the real substitute set (250 photographs)
def test_substitute(data_dir):
    images = load_images("taskonomy", data_dir)
    assert images.substitute and images.source.endswith("natural-images-256")
    assert images.images.shape == (250, 3, 256, 256) and images.images.dtype == torch.uint8
    assert images.num_classes == 250 and int(images.labels.max()) == 249
    x, y = make_batch(images, 4, torch.Generator().manual_seed(0), augment=True)
    assert x.shape == (4, 3, 256, 256) and -1.0 <= x.min() and x.max() <= 1.0


def test_real_sample_folder(any_data_dir):
    images = load_taskonomy_folder(any_data_dir / "taskonomy-rgb-sample")
    assert not images.substitute and len(images) == 3
    assert images.images.shape[1:] == (3, 256, 256)


def test_resolution_prefers_real_taskonomy(any_data_dir, tmp_path):
    data_dir = any_data_dir
    (tmp_path / "natural-images-256").symlink_to(data_dir / "natural-images-256")
    frames = sorted((data_dir / "taskonomy-rgb-sample").glob("*.png"))
    rgb = tmp_path / "taskonomy" / "benevolence" / "rgb"
    rgb.mkdir(parents=True)
    for i in range(3):  # too few: the substitute is used
        shutil.copy(frames[i % len(frames)], rgb / f"point_{i}_view_0_domain_rgb.png")
    assert load_taskonomy(tmp_path).substitute
    for i in range(3, MIN_IMAGES):
        shutil.copy(frames[i % len(frames)], rgb / f"point_{i}_view_0_domain_rgb.png")
    real = load_taskonomy(tmp_path)
    assert not real.substitute and len(real) == MIN_IMAGES and real.num_classes == 1


def test_missing_everything(tmp_path):
    with pytest.raises(DataError):
        load_taskonomy(tmp_path)


def test_tnb_tasks_use_it():
    assert "taskonomy" in DATASETS
    for name in ("tnb101_micro", "tnb101_macro"):
        assert {info.dataset for info in get_space(name).tasks.values()} == {"taskonomy"}
