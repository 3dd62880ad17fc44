"""Per-(space, task) defaults of the metrics, shipped as package data so that an installed copy has them:
regularised SWAP's mu = sigma (reg_swap.toml) and L-SWAG's layer bands (lswag_bands.toml).

Spaces are named, never imported: the metrics and the spaces do not depend on each other. Bands computed
with `swapbench lswag-band` go to a file of the user's (`user_band_file`), read over the packaged one, so
nothing is ever written into the installed package.
"""

from __future__ import annotations

import math
import os
import re
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from swapbench.errors import SwapbenchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the tomli backport
    import tomli as tomllib

REG_SWAP_FILE = "reg_swap.toml"
BAND_FILE = "lswag_bands.toml"
HOME_ENV = "SWAPBENCH_HOME"


def _space_name(space: Any) -> str:
    return space if isinstance(space, str) else getattr(space, "name", str(space))


def _read_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SwapbenchError(f"{origin} is not valid TOML ({exc}); fix or delete it") from None


@cache
def packaged(name: str) -> dict[str, Any]:
    """A TOML file of this package, parsed (read once per process)."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return _read_toml(text, f"packaged {name}")


# ---------------------------------------------------------------------------------------------
# regularised SWAP


def reg_swap_prior(space: Any, task: str) -> float | None:
    """reg_swap's default mu = sigma for (space, task) in the space's size unit; None where there is none.
    `space` is a registry name or an object with a `.name`; a variant with network options (`darts[C=16,L=8]`)
    takes its base space's value."""
    entry = packaged(REG_SWAP_FILE).get(_space_name(space).split("[", 1)[0], {})
    value = entry.get("tasks", {}).get(task, entry.get("mu_sigma"))
    return None if value is None else float(value)


# ---------------------------------------------------------------------------------------------
# L-SWAG bands: TOML tables [space.task] with p_lo / p_hi (bins 0..9) and provenance


def user_band_file() -> Path:
    """Where `swapbench lswag-band` stores bands: $SWAPBENCH_HOME/lswag_bands.toml, else
    $XDG_DATA_HOME/swapbench/lswag_bands.toml, else ~/.local/share/swapbench/lswag_bands.toml."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser() / BAND_FILE
    base = Path(os.environ["XDG_DATA_HOME"]) if os.environ.get("XDG_DATA_HOME") else Path.home() / ".local" / "share"
    return base.expanduser() / "swapbench" / BAND_FILE


def _read_band_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SwapbenchError(f"cannot read the band file {path} ({exc.strerror or exc})") from None
    return _read_toml(text, f"band file {path}")


def read_bands(path: Path | None = None) -> dict[str, Any]:
    """The bands of `path` alone; by default the packaged bands with the user's file read over them (a
    (space, task) entry of the user's replaces the packaged one)."""
    if path is not None:
        return _read_band_file(Path(path))
    merged = {space: dict(tasks) for space, tasks in packaged(BAND_FILE).items()}
    for space, tasks in _read_band_file(user_band_file()).items():
        merged.setdefault(space, {}).update(tasks)
    return merged


def lswag_band_prior(space: Any, task: str, path: Path | None = None) -> tuple[int, int] | None:
    """L-SWAG's (p_lo, p_hi) for (space, task), from `path` or the merged bands; None where there is none."""
    entry = read_bands(path).get(_space_name(space), {}).get(task)
    return (int(entry["p_lo"]), int(entry["p_hi"])) if entry else None


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else format(value, ".7g")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else '"' + name.replace('"', '\\"') + '"'


HEADER = (
    "# L-SWAG layer bands per (space, task): depth-percentile bins 0..9 (10 % each) of the scored layers,\n"
    "# chosen without labels by swapbench.study.lswag_band.select_band (rule in that module).\n"
    "# lswag uses [p_lo, p_hi] for Lambda and, by default, [0, p_hi] for Psi.\n"
)


def write_band(entry: dict[str, Any], path: Path | None = None) -> Path:
    """Add or replace the [space.task] table of `entry` (which has "space" and "task") in `path`, by default
    the user's band file (never the packaged one)."""
    path = Path(path) if path is not None else user_band_file()
    data = _read_band_file(path)
    data.setdefault(entry["space"], {})[entry["task"]] = {
        k: v for k, v in entry.items() if k not in ("space", "task")
    }
    lines = [HEADER]
    for space in sorted(data):
        for task in sorted(data[space]):
            lines.append(f"\n[{_key(space)}.{_key(task)}]\n")
            for k, v in data[space][task].items():
                lines.append(f"{_key(k)} = {_format_value(v)}\n")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(lines), encoding="utf-8")
    except OSError as exc:
        raise SwapbenchError(f"cannot write the band file {path} ({exc.strerror or exc}); "
                             "pass --band-file or set $SWAPBENCH_HOME to a writable directory") from None
    return path


__all__ = ["BAND_FILE", "REG_SWAP_FILE", "lswag_band_prior", "read_bands", "reg_swap_prior", "user_band_file",
           "write_band"]
