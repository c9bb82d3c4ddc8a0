"""One idiom for what is chosen by name: datasets (pipeline), backbones (models) and presets
(train). It lives on the ground floor so that every layer can use it without importing another.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Things of one kind by name. An unknown name is an `error` (each layer's own type: the
    pipeline's DataError, the trainer's ConfigError) that lists the known ones. An entry may be
    registered lazily as "module:attribute", imported on first `get`: listing the names imports
    nothing, so a CLI starts fast and a missing optional dependency breaks only its entry."""

    def __init__(
        self, kind: str, error: type[Exception] = ValueError, entries: Mapping[str, T] = {}
    ) -> None:
        self.kind = kind  # in messages: "unknown <kind> 'x'; known <kind>s: ..."
        self.error = error
        self._entries: dict[str, T] = dict(entries)
        self._lazy: dict[str, str] = {}

    def register(self, name: str, entry: T) -> T:
        """Add `entry` under `name`; returns it."""
        self._check_new(name)
        self._entries[name] = entry
        return entry

    def register_lazy(self, name: str, target: str) -> None:
        """Add the attribute `target` ("package.module:attribute") under `name`, imported on
        first `get`."""
        self._check_new(name)
        self._lazy[name] = target

    def _check_new(self, name: str) -> None:
        if name in self:
            raise ValueError(f"{self.kind} {name!r} is registered twice")

    def get(self, name: str) -> T:
        """The entry under `name`; an `error` naming the known ones if there is none."""
        if name not in self:
            raise self.error(
                f"unknown {self.kind} {name!r}; known {self.kind}s: {', '.join(self.available())}"
            )
        if name in self._lazy:  # kept until it imports: a failed import fails again, alike
            module, attribute = self._lazy[name].split(":")
            self._entries[name] = getattr(importlib.import_module(module), attribute)
            del self._lazy[name]
        return self._entries[name]

    def available(self) -> list[str]:
        """The registered names, sorted."""
        return sorted([*self._entries, *self._lazy])

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.available())
