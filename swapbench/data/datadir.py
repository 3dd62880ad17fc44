"""Where the benchmark data lives.

Resolution order: --data-dir, then $SWAPBENCH_DATA, then the path recorded for this installation by
`swapbench data use PATH` (`make setup` records ../shared/data when it exists), then
~/.local/share/swapbench/data (where `swapbench data fetch` downloads to).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from swapbench.errors import DataError

ENV_VAR = "SWAPBENCH_DATA"
DEFAULT_DIR = Path.home() / ".local" / "share" / "swapbench" / "data"


def install_config_file() -> Path:
    """Per-installation setting, kept inside the environment the tool is installed in."""
    return Path(sys.prefix) / "etc" / "swapbench" / "data_dir"


def recorded_data_dir() -> Path | None:
    file = install_config_file()
    if file.exists():
        text = file.read_text().strip()
        return Path(text) if text else None
    return None


def record_data_dir(path: Path) -> Path:
    file = install_config_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(str(Path(path).resolve()) + "\n")
    return file


def resolve_data_dir(
    explicit: str | Path | None = None, must_exist: bool = True, needs: list[str] | None = None
) -> Path:
    """`needs`: the data sources the caller reads, named in the fetch command of the error."""
    if explicit:
        path, origin = Path(explicit), "--data-dir"
    elif os.environ.get(ENV_VAR):
        path, origin = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    elif recorded_data_dir() is not None:
        path, origin = recorded_data_dir(), f"the recorded data dir ({install_config_file()})"
    else:
        path, origin = DEFAULT_DIR, "the default data dir"
    path = path.expanduser()
    if must_exist and not path.is_dir():
        fetch = "swapbench data fetch " + (" ".join(needs) if needs else "all")
        if explicit:
            fetch += f" --data-dir {explicit}"
        raise DataError(
            f"data dir {path} (from {origin}) does not exist; pass --data-dir, set {ENV_VAR}, "
            f"or fetch the data into it with `{fetch}`"
        )
    return path
