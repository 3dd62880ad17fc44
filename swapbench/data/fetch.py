"""Download the canonical NAS-Bench-Suite-Zero tables (Google Drive ids from NASLib's download script)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from swapbench.data.benchmarks import NBSZ_DIR
from swapbench.errors import DataError

GDRIVE_IDS = {
    "zc_nasbench101.json": "1uT3tuIDMVaB4U1N8l9imEYHWPOLls3FD",
    "zc_nasbench201.json": "1k2EUtVJ4JqoJCnuyJEVgZs6vAmbg6XVB",
    "zc_nasbench301.json": "11kIyLr7LwFB_fXGDk3ic5yjiYMY5JLXG",
    "zc_transbench101_macro.json": "1nMaa3LjlP1d_umgudX7abKSdDMeoBNb5",
    "zc_transbench101_micro.json": "1i8N2n7yflN33xAuQVzlTYM4E7W1Cwn1S",
}


def _online(host: str = "drive.google.com", port: int = 443, timeout: float = 5.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def fetch_nbsz(data_dir: Path, log: Callable[[str], None] = print) -> list[Path]:
    try:
        import gdown
    except ImportError:
        raise DataError("downloading needs gdown: pip install 'swapbench[fetch]'") from None
    if not _online():
        raise DataError("cannot reach drive.google.com (no internet?); copy the data dir from a machine "
                        "that has it and pass --data-dir")
    target = Path(data_dir) / NBSZ_DIR
    target.mkdir(parents=True, exist_ok=True)
    done = []
    for name, file_id in GDRIVE_IDS.items():
        path = target / name
        if path.exists():
            log(f"{path} exists, skipped")
            continue
        result = gdown.download(id=file_id, output=str(path), quiet=False)
        if result is None:
            raise DataError(f"download of {name} (Google Drive id {file_id}) failed")
        done.append(path)
    return done
