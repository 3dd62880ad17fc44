"""Search spaces: one module per benchmark space (decode/encode, build the network, sample).

`get_space(name)` / `list_spaces()` discover every module in this package.
"""

from __future__ import annotations

from swapbench.registry import Registry
from swapbench.spaces.base import SearchSpace, TaskInfo

SPACES: Registry[SearchSpace] = Registry("space", __name__)


def register_space(space: SearchSpace) -> SearchSpace:
    """Register a space instance under `space.name`."""
    return SPACES.add(space.name, space)


def get_space(name: str) -> SearchSpace:
    """A registered space by name; `darts[C=16,L=8]` selects a DARTS space on another network size."""
    if "[" in name:
        from swapbench.spaces.darts import resolve_variant

        return resolve_variant(name, SPACES.get(name.split("[", 1)[0]))
    return SPACES.get(name)


def list_spaces() -> list[str]:
    return SPACES.names()


__all__ = ["SearchSpace", "TaskInfo", "register_space", "get_space", "list_spaces"]
