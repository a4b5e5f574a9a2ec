"""`textseq stages [NAME]`: the preprocessing stages a pipeline can use, with their options.

    textseq stages              each stage: name, what it consumes -> produces, one line of doc,
                                and its options (type = default)
    textseq stages punctuation  one stage in full, with a pipeline line to copy

A stage's options are its fields (textseq.text.base.Stage); a pipeline YAML lists stages as
`- {stage: NAME, OPTION: VALUE, ...}`. Neither form imports torch or loads any language data.
"""

from __future__ import annotations

import argparse
import inspect
import types
from typing import Any, Literal, Union, get_args, get_origin

HELP = "List the preprocessing stages a pipeline can use, with their options; or show one in full."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", nargs="?", help="a stage name, e.g. punctuation: show it in full")


def run(args: argparse.Namespace) -> int:
    from textseq.text.base import STAGES, _ensure_builtin_stages

    _ensure_builtin_stages()
    if args.name is None:
        print("\n\n".join(summary(STAGES.get(name)) for name in STAGES.names()))
    else:
        print(details(STAGES.get(args.name)))  # an unknown name: ConfigError listing the valid ones
    return 0


def summary(cls: Any) -> str:
    """Name, kinds and the docstring's first line, then one indented line per option."""
    lines = [f"{cls.name}  ({cls.consumes} -> {cls.produces})  {doc_lines(cls)[0]}"]
    lines += [f"    {line}" for line in option_lines(cls)] or ["    (no options)"]
    return "\n".join(lines)


def details(cls: Any) -> str:
    """The whole docstring, the options and a pipeline entry with every default spelled out."""
    lines = [f"{cls.name}: {cls.consumes} -> {cls.produces}", "", *doc_lines(cls), "", "options:"]
    lines += [f"  {line}" for line in option_lines(cls)] or ["  (none)"]
    example = {"stage": cls.name}
    for name, field in cls.model_fields.items():
        example[name] = f"<{name}>" if field.is_required() else _plain(field.get_default(call_default_factory=True))
    lines += ["", "in a pipeline:", f"  stages:\n    - {_yaml(example)}"]
    return "\n".join(lines)


def doc_lines(cls: Any) -> list[str]:
    """The class's own docstring, dedented, as lines (the first is its one-line summary)."""
    doc = cls.__dict__.get("__doc__") or ""
    return inspect.cleandoc(doc).splitlines() or ["(undocumented)"]


def option_lines(cls: Any) -> list[str]:
    """`name: type = default` for each option; `(required)` for one without a default."""
    out = []
    for name, field in cls.model_fields.items():
        default = "(required)" if field.is_required() else f"= {_yaml(_plain(field.get_default(call_default_factory=True)))}"
        out.append(f"{name}: {type_name(field.annotation)} {default}")
    return out


def type_name(annotation: Any) -> str:
    """A field type in YAML's words: `lower | casefold`, `str | null`, `list of str`, `bool`."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " | ".join(str(_yaml(a)) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join("null" if a is type(None) else type_name(a) for a in args)
    if origin in (list, tuple, set, frozenset):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}" if args else "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _plain(value: Any) -> Any:
    """Tuples (how frozen stages hold lists) as lists, so YAML writes them as YAML lists."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _yaml(value: Any) -> str:
    """One value as YAML flow text: `lower`, `true`, `null`, `[<url>, <email>]`, `'\\w+'`."""
    import yaml  # here, not at the top: `textseq --help` imports every command module

    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False,
                          width=1 << 16).strip()
    return text[:-3].strip() if text.endswith("\n...") else text
