"""A tiny name -> object registry shared by spaces and proxies (timm-style discovery), extended by plugins:
other installed distributions name, under an entry-point group, a module whose import registers entries."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Iterator
from importlib import metadata
from typing import Generic, TypeVar

from swapbench.errors import SwapbenchError

T = TypeVar("T")

BUILT_IN = "built-in"


def plugin_entry_points(group: str) -> list[metadata.EntryPoint]:
    """The entry points of `group`, one per name (a distribution found twice on the path counts once)."""
    unique: dict[tuple[str, str], metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=group):
        unique.setdefault((ep.name, ep.value), ep)
    return sorted(unique.values(), key=lambda ep: (ep.name, ep.value))


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None and dist.name else ep.name


class Registry(Generic[T]):
    """Holds named entries; `package` is imported module by module on first use so that adding an entry is
    adding one file (no hand-kept import list), then the modules that `plugin_group` entry points name.

    A plugin that fails to import is reported in one warning line on stderr and leaves nothing registered;
    the built-ins and the other plugins still load."""

    def __init__(self, kind: str, package: str, plugin_group: str | None = None):
        self.kind = kind
        self.package = package
        self.plugin_group = plugin_group
        self._items: dict[str, T] = {}
        self._sources: dict[str, str] = {}
        self._adding_for = BUILT_IN  # the source that entries added now come from
        self._loaded = False

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' registered twice")
        self._items[name] = item
        self._sources[name] = self._adding_for
        return item

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{self.package}.{mod.name}")
        if self.plugin_group:
            for ep in plugin_entry_points(self.plugin_group):
                self._load_plugin(ep)

    def _load_plugin(self, ep: metadata.EntryPoint) -> None:
        before = set(self._items)
        self._adding_for = _distribution(ep)
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not take the tool down
            for name in set(self._items) - before:  # nothing half-registered stays
                del self._items[name]
                del self._sources[name]
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            sys.stderr.write(f"warning: plugin '{ep.name}' ({self.plugin_group}) failed to load: {reason}\n")
        finally:
            self._adding_for = BUILT_IN

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items))
            raise SwapbenchError(f"unknown {self.kind} '{name}'; choose one of: {known}") from None

    def source(self, name: str) -> str:
        """Where `name` comes from: "built-in", or the name of the distribution whose plugin registered it."""
        self.get(name)
        return self._sources[name]

    def names(self) -> list[str]:
        self._load()
        return list(self._items)

    def __iter__(self) -> Iterator[T]:
        self._load()
        return iter(list(self._items.values()))

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._items
