"""A tiny name -> object registry shared by spaces and proxies (timm-style discovery)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Generic, TypeVar

from swapbench.errors import SwapbenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """Holds named entries; `package` is imported module by module on first use so that
    adding an entry is adding one file (no hand-kept import list)."""

    def __init__(self, kind: str, package: str):
        self.kind = kind
        self.package = package
        self._items: dict[str, T] = {}
        self._loaded = False

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind} '{name}' registered twice")
        self._items[name] = item
        return item

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{self.package}.{mod.name}")

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items))
            raise SwapbenchError(f"unknown {self.kind} '{name}'; choose one of: {known}") from None

    def names(self) -> list[str]:
        self._load()
        return list(self._items)

    def __iter__(self) -> Iterator[T]:
        self._load()
        return iter(list(self._items.values()))

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._items
