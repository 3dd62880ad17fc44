"""NB201's full-space tables from the NATS-Bench topology benchmark (the `nats_bench` package).

NATS-Bench's fast mode reads one architecture's record from disk when it is queried; we drop each record
again after writing its rows, so the conversion holds one architecture at a time, not the benchmark.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from swapbench.data.sources import NATS_TSS_DIR, NB201_12EP, NB201_200EP, NB201_ARCHS, NB201_COLUMNS
from swapbench.errors import DataError

# (NATS-Bench dataset name, hp, metric) per output column
_200EP = [("cifar10", "200", "test-accuracy"), ("cifar100", "200", "test-accuracy"),
          ("ImageNet16-120", "200", "test-accuracy")]
_12EP = [("cifar10", "12", "test-accuracy"), ("cifar10-valid", "12", "valid-accuracy"),
         ("cifar100", "12", "test-accuracy"), ("cifar100", "12", "valid-accuracy"),
         ("ImageNet16-120", "12", "test-accuracy"), ("ImageNet16-120", "12", "valid-accuracy")]


def open_nats(path: Path) -> Any:
    """NATS-Bench's topology API in fast mode (per-architecture loading)."""
    try:
        import nats_bench
    except ImportError:
        raise DataError("converting NATS-Bench needs its API: pip install nats_bench") from None
    path = Path(path)
    if not path.exists():
        raise DataError(f"NATS-Bench benchmark {path} does not exist; download {NATS_TSS_DIR} (D-X-Y/NATS-Bench) "
                        "and pass its path with --nats")
    if path.is_file():
        raise DataError(f"{path} is the single-file NATS-Bench, which is read whole into memory; pass the "
                        f"fast-mode directory ({NATS_TSS_DIR}) instead")
    return nats_bench.create(str(path), "tss", fast_mode=True, verbose=False)


def _release(api: Any, index: int) -> None:
    """Forget the architecture's record that fast mode loaded for the last query."""
    infos = getattr(api, "arch2infos_dict", None)
    if isinstance(infos, dict):
        infos.pop(index, None)


def convert(api: Any, out_dir: Path, unique_str: Callable[[str], str] | None = None,
            log: Callable[[str], object] = print, every: int = 1000) -> dict[str, Path]:
    """Write both NB201 tables (as `.part` files in `out_dir`) from a NATS-Bench topology API; returns
    {data-dir target: part file}. Row order is the NB201 index, as in the tables the tool reads."""
    n = len(api)
    if n != NB201_ARCHS:
        raise DataError(f"the NATS-Bench benchmark has {n} architectures, not NB201's {NB201_ARCHS}; is it the "
                        "topology (tss) benchmark?")
    out_dir = Path(out_dir)
    parts = {target: out_dir / f"{Path(target).name}.part" for target in (NB201_200EP, NB201_12EP)}
    t0 = time.monotonic()
    with open(parts[NB201_200EP], "w", newline="") as f200, open(parts[NB201_12EP], "w", newline="") as f12:
        w200, w12 = csv.writer(f200), csv.writer(f12)
        w200.writerow(NB201_COLUMNS[NB201_200EP])
        w12.writerow(NB201_COLUMNS[NB201_12EP])
        for index in range(n):
            arch = str(api[index])
            infos = {key: api.get_more_info(index, key[0], hp=key[1], is_random=False)
                     for key in dict.fromkeys((d, hp) for d, hp, _ in _200EP + _12EP)}
            w200.writerow([*(float(infos[(d, hp)][m]) for d, hp, m in _200EP), arch,
                           unique_str(arch) if unique_str else ""])
            w12.writerow([index, arch, *(float(infos[(d, hp)][m]) for d, hp, m in _12EP)])
            _release(api, index)
            if every and (index + 1) % every == 0:
                rate = (index + 1) / max(time.monotonic() - t0, 1e-9)
                log(f"NATS-Bench -> nb201 tables: {index + 1} of {n} archs, ETA {(n - index - 1) / rate:.0f}s")
    return parts
