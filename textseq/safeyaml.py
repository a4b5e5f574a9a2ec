"""YAML for configs and `--set` values, safe against hostile input.

yaml.safe_load constructs no objects, but it still lets a few hundred bytes describe gigabytes:
each alias (`*a`) stands for the whole anchored value, so nine nested lists of nine aliases expand
to 9**9 values once anything walks the data (a deep copy, pydantic validation). This loader
measures the expanded size while it composes the document, before anything is built, and refuses

    - more than MAX_VALUES values after alias expansion;
    - nesting deeper than MAX_DEPTH (the composer recurses once per level);
    - an alias inside the value it names (a recursive structure).

It also reads numbers as YAML 1.2 does: PyYAML follows YAML 1.1, where `1e-3` (no dot) is the
string "1e-3"; here it is the float 0.001, as users who write `lr: 1e-3` mean. Config fields do
not turn strings into numbers (see textseq.config.StrictModel), so this is where `1e-3` becomes one.

This module imports neither torch nor pydantic.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from textseq.errors import ConfigError
from textseq.presets import MAX_BYTES  # a config file or --set value

MAX_VALUES = 100_000  # scalars, lists and mappings after alias expansion
MAX_DEPTH = 100  # nesting levels

# Exponent without a dot ("1e-3", "5E+4"): a float in YAML 1.2 and JSON, a string in YAML 1.1.
_EXPONENT_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$")


class ConfigLoader(yaml.SafeLoader):
    """yaml.SafeLoader with YAML 1.2 exponent floats and limits on expanded size and depth."""

    # Own copy of the resolver table: adding to it must not change yaml.SafeLoader for everyone.
    yaml_implicit_resolvers = {key: list(value) for key, value in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values it expands to; absent while composing it

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        """Compose as usual, then record the node's expanded size; refuse past the limits."""
        alias = self.check_event(yaml.AliasEvent)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitError(f"nested more than {MAX_DEPTH} levels deep")
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if alias:
            if id(node) not in self._sizes:  # the anchored node is still being composed
                raise _LimitError("an alias refers to the value that contains it (a recursive structure)")
            return node
        self._sizes[id(node)] = size = 1 + sum(self._sizes[id(child)] for child in _children(node))
        if size > MAX_VALUES:
            raise _LimitError(f"expands to more than {MAX_VALUES:,} values (through aliases such as *name?)")
        return node


ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


class _LimitError(yaml.YAMLError):
    """The document is too large, too deep or recursive (raised inside the loader)."""


class RefusedError(ConfigError):
    """A config or --set value over the limits: refused, never read in another way."""


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def describe_yaml_error(err: yaml.YAMLError, where: str) -> str:
    """One line: 'FILE:LINE:COLUMN: invalid YAML: PROBLEM (CONTEXT)' (PyYAML's own message spans five)."""
    mark = getattr(err, "problem_mark", None)
    at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark is not None else where
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    return f"{at}: invalid YAML: {problem}" + (f" ({context})" if context else "")


def load(text: str, where: str) -> Any:
    """Parse YAML `text` (a config file or a --set value) within the limits; errors name `where`."""
    if len(text) > MAX_BYTES:
        raise RefusedError(f"{where}: too large ({len(text):,} characters; a config may have at most {MAX_BYTES:,})")
    loader = ConfigLoader(text)
    try:
        return loader.get_single_data()
    except _LimitError as err:
        raise RefusedError(f"{where}: refused: the YAML {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(describe_yaml_error(err, where)) from None
    finally:
        loader.dispose()


def plain_copy(data: Any, where: str) -> Any:
    """A deep copy of plain data (dicts, lists, scalars): shared values become separate copies, so
    it is bounded by MAX_VALUES values and refuses cycles, whatever built `data`."""
    count = 0
    active: set[int] = set()  # ids of the containers being copied: the path from the root

    def copy(value: Any, depth: int) -> Any:
        nonlocal count
        count += 1
        if count > MAX_VALUES:
            raise RefusedError(f"{where}: refused: the config expands to more than {MAX_VALUES:,} values")
        if not isinstance(value, (dict, list, tuple)):
            return value
        if depth > MAX_DEPTH:
            raise RefusedError(f"{where}: refused: the config is nested more than {MAX_DEPTH} levels deep")
        if id(value) in active:
            raise RefusedError(f"{where}: refused: the config contains itself (a recursive structure)")
        active.add(id(value))
        try:
            if isinstance(value, dict):
                return {key: copy(item, depth + 1) for key, item in value.items()}
            return [copy(item, depth + 1) for item in value]
        finally:
            active.discard(id(value))

    return copy(data, 0)
