"""The pieces of L-SWAG (Casarin, Escalera, Lanz, CVPR 2025; proxies.md section 4): depth-percentile bins,
the per-layer gradient-noise terms of Lambda, the layer-wise pattern cardinality Psi, and the band file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch

from swapbench.errors import SwapbenchError
from swapbench.proxies._common import ActivationCall, population_std, unpack_samples
from swapbench.proxies._patterns import pack_unit_patterns, unique_rows

PERC_BINS = 10
BAND_FILE = Path(__file__).resolve().parents[2] / "configs" / "lswag_bands.toml"
SIGMA_ESTIMATORS = ("abs", "grad")


def depth_bins(count: int) -> list[int]:
    """Bin of layers l = 1..count: int((l / count) * 100 // (100 / PERC_BINS)) as printed in the paper,
    with the last layer (exactly 100 %) put in the top bin PERC_BINS - 1 so that there are PERC_BINS bins."""
    return [min(int((l / count) * 100 // (100 / PERC_BINS)), PERC_BINS - 1) for l in range(1, count + 1)]


def sigma(per_batch: torch.Tensor, estimator: str) -> torch.Tensor:
    """Per-weight standard deviation across the B sub-batch gradients (B x n), population (ddof 0).
    "abs": std of |g| (the paper writes Var(|grad|)); "grad": std of g (ZiCo's code)."""
    g = per_batch.double()
    if estimator == "abs":
        g = g.abs()
    elif estimator != "grad":
        raise SwapbenchError(f"lswag: unknown sigma estimator '{estimator}' (use abs or grad)")
    return population_std(g)


def lambda_terms(grads: list[torch.Tensor], estimator: str, eps: float) -> list[float | None]:
    """Per scored layer: log sum over weights with sigma > eps of 1/sigma; None when nothing is left
    (ZiCo's convention: such a layer is skipped)."""
    out: list[float | None] = []
    for g in grads:
        s = sigma(g, estimator)
        s = s[s > eps]
        total = float((1.0 / s).sum()) if s.numel() else 0.0
        out.append(math.log(total) if total > 0 else None)
    return out


def log_sigma_profile(grads: list[torch.Tensor], estimator: str, eps: float) -> list[float | None]:
    """Per scored layer: the mean over weights with sigma > eps of log sigma (band-selection statistic)."""
    out: list[float | None] = []
    for g in grads:
        s = sigma(g, estimator)
        s = s[s > eps]
        out.append(float(torch.log(s).mean()) if s.numel() else None)
    return out


def psi_calls(calls: list[ActivationCall], four_d_only: bool) -> list[ActivationCall]:
    """The activation calls that make up Psi's layers: nn.ReLU / nn.GELU calls in forward order."""
    return [c for c in calls if (c.relu or c.gelu) and (c.dim == 4 or not four_d_only)]


def layerwise_psi(calls: list[ActivationCall], keep: list[bool], mode: str) -> int:
    """Distinct per-unit sample patterns over the kept calls: one set over all of them ("union", Eq. 7)
    or the sum of per-call cardinalities ("sum")."""
    per_call: dict[int, torch.Tensor] = {}

    def unique_units(c: ActivationCall) -> torch.Tensor:
        if id(c.bits) not in per_call:
            per_call[id(c.bits)] = unique_rows(pack_unit_patterns(unpack_samples(c.bits, c.units)))
        return per_call[id(c.bits)]

    chosen = [c for c, k in zip(calls, keep, strict=True) if k]
    if not chosen:
        return 0
    if mode == "sum":
        return sum(int(unique_units(c).shape[0]) for c in chosen)
    if mode != "union":
        raise SwapbenchError(f"lswag: unknown psi_mode '{mode}' (use union or sum)")
    parts = [unique_units(c) for c in chosen if not c.duplicate]
    return int(unique_rows(torch.cat(parts, dim=0)).shape[0])


# ---------------------------------------------------------------------------------------------
# band file: TOML tables [space.task] with p_lo / p_hi (bins 0..PERC_BINS-1) and provenance


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the simple subset this project writes
        return _parse_simple_toml(path.read_text())
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _parse_value(text: str) -> Any:
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_parse_value(v) for v in inner.split(",") if v.strip()] if inner else []
    if text in ("true", "false"):
        return text == "true"
    if text == "nan":
        return math.nan
    try:
        return int(text)
    except ValueError:
        return float(text)


def _strip_comment(line: str) -> str:
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        elif ch == "#" and not quoted:
            return line[:i].strip()
    return line.strip()


def _parse_simple_toml(text: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    table = data
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line:
            continue
        header = re.fullmatch(r"\[([^\]]+)\]", line)
        if header:
            table = data
            for part in header.group(1).split("."):
                table = table.setdefault(part.strip().strip('"'), {})
            continue
        key, _, value = line.partition("=")
        table[key.strip().strip('"')] = _parse_value(value)
    return data


def read_bands(path: Path | None = None) -> dict[str, Any]:
    path = Path(path) if path is not None else BAND_FILE
    if not path.exists():
        return {}
    return _read_toml(path)


def default_band(space: str, task: str, path: Path | None = None) -> tuple[int, int]:
    entry = read_bands(path).get(space, {}).get(task)
    if not entry:
        raise SwapbenchError(
            f"lswag: no layer band for {space}/{task} in {path or BAND_FILE}; compute one with "
            "`swapbench lswag-band` or pass the options lswag.p_lo and lswag.p_hi"
        )
    return int(entry["p_lo"]), int(entry["p_hi"])


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
    "# chosen without labels by swapbench.proxies.lswag_band.select_band (rule in that module).\n"
    "# lswag uses [p_lo, p_hi] for Lambda and, by default, [0, p_hi] for Psi.\n"
)


def write_band(entry: dict[str, Any], path: Path | None = None) -> Path:
    """Add or replace the [space.task] table of `entry` (which has "space" and "task") in the band file."""
    path = Path(path) if path is not None else BAND_FILE
    data = read_bands(path)
    data.setdefault(entry["space"], {})[entry["task"]] = {
        k: v for k, v in entry.items() if k not in ("space", "task")
    }
    lines = [HEADER]
    for space in sorted(data):
        for task in sorted(data[space]):
            lines.append(f"\n[{_key(space)}.{_key(task)}]\n")
            for k, v in data[space][task].items():
                lines.append(f"{_key(k)} = {_format_value(v)}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return path
