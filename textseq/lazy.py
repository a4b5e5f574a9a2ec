"""Lazy package exports: `from textseq.lm import train_lm` without importing torch at `import textseq.lm`."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], list[str]]:
    """A module `__getattr__` that imports `exports[name]` on first use, and the matching `__all__`."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return __getattr__, sorted(exports)


def by_submodule(package: str, groups: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Exports listed by the submodule that defines them, {"config": ("A", "B")}, as lazy_exports
    takes them: {"A": "PACKAGE.config", "B": "PACKAGE.config"}."""
    return {name: f"{package}.{module}" for module, names in groups.items() for name in names}
