"""The one registry pattern: models, data sets, defenses and attacks.

A package's ``__init__`` imports every module that registers an entry, so the
registry is full as soon as anything of that package is imported (Python runs
a package's ``__init__`` before any of its submodules): no lazy "load the
built-ins" hooks, and no import cycles between a registry and its entries.
"""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError, MfdvError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name; an unknown name is one sentence that lists the choices."""

    def __init__(self, kind: str, error: type[MfdvError] = ConfigError, hint: str = "") -> None:
        self.kind = kind
        self.error = error
        self.hint = hint  # e.g. "; `mfdv datasets` lists them with their layouts"
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise RuntimeError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def decorator(self, name: str, make: Callable[[Callable], T]) -> Callable[[Callable], Callable]:
        """``@registry.decorator(name, make)``: registers ``make(fn)`` and returns ``fn`` unchanged."""
        def deco(fn: Callable) -> Callable:
            self.add(name, make(fn))
            return fn
        return deco

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise self.error(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}{self.hint}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
