"""Search spaces: one module per benchmark space (decode/encode, build the network, sample).

`get_space(name)` / `list_spaces()` discover every module in this package, then the plugins of installed
distributions (entry-point group `swapbench.spaces`).
"""

from __future__ import annotations

from swapbench.registry import Registry
from swapbench.spaces.base import SearchSpace, TaskInfo

# other distributions add spaces through this entry-point group: each entry names a module whose import
# calls `register_space`
PLUGIN_GROUP = "swapbench.spaces"
SPACES: Registry[SearchSpace] = Registry("space", __name__, plugin_group=PLUGIN_GROUP)


def register_space(space: SearchSpace) -> SearchSpace:
    """Register a space instance under `space.name`."""
    return SPACES.add(space.name, space)


def get_space(name: str) -> SearchSpace:
    """A registered space by name; `darts[C=16,L=8]` selects a DARTS space on another network size."""
    if "[" in name:
        return SPACES.get(name.split("[", 1)[0]).with_options(name)
    return SPACES.get(name)


def list_spaces() -> list[str]:
    return SPACES.names()


__all__ = ["SearchSpace", "TaskInfo", "register_space", "get_space", "list_spaces"]
