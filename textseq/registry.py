"""Name -> factory registries, so configs pick components by name and typos get a helpful error."""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from textseq.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of factories; unknown names are rejected with the list of valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register `obj` under `name` (names are unique)."""

        def decorate(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        """Return the factory registered as `name`, or raise ConfigError naming the valid choices."""
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(unknown_name_message(self.kind, name, self._items)) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def unknown_name_message(kind: str, name: object, valid: object) -> str:
    """'unknown stage 'lowercas' (did you mean 'lowercase'?); valid: a, b, c'."""
    choices = sorted(str(v) for v in valid)  # type: ignore[union-attr]
    hint = difflib.get_close_matches(str(name), choices, n=1)
    did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
    return f"unknown {kind} {name!r}{did_you_mean}; valid: {', '.join(choices)}"
