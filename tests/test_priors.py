"""The metrics' per-(space, task) defaults ship inside the package (read with importlib.resources), and bands
computed by `swapbench lswag-band` go to the user's own file, read over the packaged ones."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from conftest import ROOT

import swapbench
from swapbench.errors import SwapbenchError
from swapbench.proxies import priors
from swapbench.proxies.lswag import default_band
from swapbench.proxies.priors import lswag_band_prior, read_bands, reg_swap_prior, user_band_file, write_band
from swapbench.spaces import get_space, list_spaces

# the defaults as the spaces carried them before they moved into the package data
REG_SWAP = {
    "nb101": {"cifar10": 40.0},
    "nb201": {"cifar10": 1.5, "cifar100": 1.5, "ImageNet16-120": 1.5},
    "nb301": {"cifar10": 1.8},
    "darts": {"cifar10": 3.3},
    "darts-swap": {"cifar10": 1.5},
    "tnb101_micro": {"class_scene": 31.0, "class_object": 31.0, "autoencoder": 53.0, "normal": 53.0,
                     "jigsaw": 35.0, "room_layout": 31.0, "segmentsemantic": 42.0},
    "tnb101_macro": {"class_scene": 41.0, "class_object": 41.0, "autoencoder": 64.0, "normal": 64.0,
                     "jigsaw": 45.0, "room_layout": 41.0, "segmentsemantic": 52.0},
}
BANDS = {
    "nb101": {"cifar10": (0, 9)},
    "nb201": {"ImageNet16-120": (5, 9), "cifar10": (5, 9), "cifar100": (5, 9)},
    "nb301": {"cifar10": (0, 4)},
    "tnb101_macro": {"autoencoder": (4, 8), "class_object": (0, 4), "class_scene": (0, 4), "jigsaw": (2, 9),
                     "normal": (4, 8), "room_layout": (0, 4), "segmentsemantic": (5, 9)},
    "tnb101_micro": {"autoencoder": (1, 8), "class_object": (0, 4), "class_scene": (0, 9), "jigsaw": (0, 9),
                     "normal": (0, 7), "room_layout": (0, 9), "segmentsemantic": (0, 6)},
}


@pytest.fixture
def user_home(tmp_path, monkeypatch) -> Path:
    """An empty user location for bands, so the tests neither read nor write the real one."""
    home = tmp_path / "swapbench-home"
    monkeypatch.setenv("SWAPBENCH_HOME", str(home))
    return home


def test_reg_swap_priors_are_the_spaces_former_defaults():
    assert {name: {t: reg_swap_prior(name, t) for t in get_space(name).tasks} for name in REG_SWAP} == REG_SWAP
    assert set(list_spaces()) >= set(REG_SWAP)


def test_reg_swap_prior_of_a_space_object_a_variant_and_an_unknown_space():
    assert reg_swap_prior(get_space("nb201"), "cifar100") == 1.5
    assert reg_swap_prior(get_space("darts[C=16,L=8]"), "cifar10") == 3.3  # a variant keeps its base's value
    assert reg_swap_prior("no-such-space", "cifar10") is None


def test_packaged_bands(user_home):
    bands = read_bands()
    assert {s: {t: (e["p_lo"], e["p_hi"]) for t, e in tasks.items()} for s, tasks in bands.items()} == BANDS
    assert default_band("nb201", "cifar10") == (5, 9)
    assert lswag_band_prior("darts", "cifar10") is None


def test_the_priors_are_package_data():
    files = {f.name for f in resources.files("swapbench.proxies.priors").iterdir()}
    assert {priors.REG_SWAP_FILE, priors.BAND_FILE} <= files


def test_user_band_file_location(monkeypatch, tmp_path):
    monkeypatch.delenv("SWAPBENCH_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_band_file() == tmp_path / "home" / ".local" / "share" / "swapbench" / "lswag_bands.toml"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_band_file() == tmp_path / "xdg" / "swapbench" / "lswag_bands.toml"
    monkeypatch.setenv("SWAPBENCH_HOME", str(tmp_path / "sb"))
    assert user_band_file() == tmp_path / "sb" / "lswag_bands.toml"


def test_user_bands_are_read_over_the_packaged_ones(user_home):
    packaged_text = resources.files("swapbench.proxies.priors").joinpath(priors.BAND_FILE).read_text()
    written = write_band({"space": "nb201", "task": "cifar10", "p_lo": 2, "p_hi": 3, "n_networks": 2})
    write_band({"space": "darts", "task": "cifar10", "p_lo": 1, "p_hi": 8})
    assert written == user_home / "lswag_bands.toml" and written.exists()
    assert default_band("nb201", "cifar10") == (2, 3)  # the user's entry wins
    assert default_band("nb201", "cifar100") == (5, 9)  # the packaged ones stay
    assert lswag_band_prior("darts", "cifar10") == (1, 8)
    assert read_bands(written).keys() == {"nb201", "darts"}  # the user's file holds only the user's entries
    assert resources.files("swapbench.proxies.priors").joinpath(priors.BAND_FILE).read_text() == packaged_text


def test_a_broken_user_band_file_is_a_clean_error(user_home):
    user_home.mkdir()
    (user_home / "lswag_bands.toml").write_text("[nb201.cifar10\np_lo = ")
    with pytest.raises(SwapbenchError, match="not valid TOML"):
        default_band("nb201", "cifar10")


def _mentions_file(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "__file__" for n in ast.walk(node))


def test_the_package_reads_no_file_outside_itself():
    """Paths that climb from `__file__` out of the package (`parents[k]`, `.parent.parent`) reach the source
    checkout, which an installed wheel does not have; package data goes through importlib.resources."""
    root = Path(swapbench.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            climbs = (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
                      and node.value.attr == "parents") or (
                isinstance(node, ast.Attribute) and node.attr == "parent"
                and isinstance(node.value, ast.Attribute) and node.value.attr == "parent")
            if climbs and _mentions_file(node):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    assert found == []


@pytest.mark.slow
def test_lswag_band_command_writes_to_the_user_location(data_dir, tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("SWAPBENCH_HOME", "XDG_DATA_HOME")}
    env.update(HOME=str(home), PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "swapbench.cli", "lswag-band", "--space", "nb201", "--task",
                           "cifar10", "--n-networks", "2", "--batch-size", "8", "--data-dir", str(data_dir)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    stored = home / ".local" / "share" / "swapbench" / "lswag_bands.toml"
    assert read_bands(stored)["nb201"]["cifar10"]["n_networks"] == 2
    assert str(stored) in " ".join(proc.stdout.split())
