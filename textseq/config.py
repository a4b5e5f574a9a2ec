"""Typed configs: pydantic models with unknown keys forbidden, loaded from YAML (a file, or a preset
shipped in the package: see textseq.presets), overridable with dotted `key=value` pairs.

Every error names the dotted key at fault and where its value came from: the file (or preset), or
the `--set KEY=VALUE` that gave it; an unknown key comes with the closest valid ones. YAML is read
by textseq.safeyaml, which refuses alias bombs, deep nesting and oversized files.

Types are strict where YAML already says what a value is: a number field takes numbers, never
`true`/`false` (pydantic would read true as 1) nor a string ("512" in quotes is a string); a count
(int field) takes a whole number, and a float with nothing after the point (2.0, 1e4) counts as
one, while 2.5 is an error rather than being cut to 2; a true/false field takes only true or false.
`1e-3` is a number, as in YAML 1.2 (see textseq.safeyaml)."""

from __future__ import annotations

import difflib
import shlex
import types
from pathlib import Path
from typing import Annotated, Any, ClassVar, Iterable, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from textseq import presets, safeyaml
from textseq.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment,
    and numbers and booleans are not converted from other types (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
    # A job schema names the kind of preset (textseq.presets.KINDS) that `-c NAME` picks for it.
    preset_kind: ClassVar[str | None] = None

    @field_validator("*", mode="before")
    @classmethod
    def _strict_scalars(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        problem = _type_problem(value, field.annotation) if field is not None else None
        if problem:
            raise PydanticCustomError("strict_type", problem)
        return value


_UNIONS = (Union, types.UnionType)


def _type_problem(value: Any, annotation: Any) -> str | None:
    """Why `value` must not be converted to `annotation` (None: leave it to pydantic). Only bools,
    ints, floats and strings are judged, inside unions, lists, tuples and dicts too."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _type_problem(value, get_args(annotation)[0])
    if origin in _UNIONS:
        members = [m for m in get_args(annotation) if m is not type(None)]
        if value is None and len(members) < len(get_args(annotation)):
            return None
        problems = [_type_problem(value, m) for m in members]
        return None if None in problems else problems[0]
    if annotation in (int, float):
        expected = "a whole number" if annotation is int else "a number"
        if isinstance(value, bool):
            return f"expected {expected}, got {str(value).lower()} (a boolean)"
        if isinstance(value, str):
            return f"expected {expected}, got the string {value!r}"
        return None
    if annotation is bool and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return f"expected true or false, got {value!r}"
    if origin in (list, tuple, set, frozenset) and isinstance(value, (list, tuple)):
        args = get_args(annotation)
        if not args:
            return None
        fixed = origin is tuple and args[-1] is not Ellipsis
        for i, item in enumerate(value):
            if fixed and i >= len(args):
                break
            problem = _type_problem(item, args[i] if fixed else args[0])
            if problem:
                return f"item {i}: {problem}"
    if origin is dict and isinstance(value, dict) and len(get_args(annotation)) == 2:
        for key, item in value.items():
            problem = _type_problem(item, get_args(annotation)[1])
            if problem:
                return f"{key}: {problem}"
    return None


Setter = tuple[tuple[str, ...], str]  # (key path, the `KEY=VALUE` text) of one --set


def describe_validation_error(err: ValidationError, where: str, model: type[BaseModel] | None = None,
                              overrides: Iterable[Setter] = ()) -> str:
    """Turn a pydantic error into lines like `configs/x.yaml: train.lr: Input should be ...`, or
    `--set train.lr=true: train.lr: ...` when a --set gave the value at fault."""
    setters = list(overrides)
    lines = []
    for e in err.errors():
        loc = tuple(str(p) for p in e["loc"])
        key = ".".join(loc) or "(top level)"
        msg = e["msg"]
        unknown = e["type"] == "extra_forbidden"
        setter = _setter_of(loc, setters, unknown)
        if unknown and setter:
            key = ".".join(setter[0])  # the whole key as typed, not just its first unknown part
        source = f"--set {setter[1]}" if setter else _with_setters(where, loc, setters)
        if unknown and model is not None:
            msg = _unknown_key_message(model, e["loc"], setter)
        lines.append(f"{source}: {key}: {msg}")
    return "\n".join(lines)


def _setter_of(loc: tuple[str, ...], setters: list[Setter], unknown: bool) -> Setter | None:
    """The last --set that gave the value at `loc`: one that set `loc` or a section above it, or
    (for an unknown key) one that created `loc` on its way to a key below it."""
    for path, item in reversed(setters):
        if loc[:len(path)] == path or (unknown and path[:len(loc)] == loc):
            return path, item
    return None


def _with_setters(where: str, loc: tuple[str, ...], setters: list[Setter]) -> str:
    """`where`, plus the --set values inside `loc` (an error about a whole section may be theirs)."""
    inside = [item for path, item in setters if path[:len(loc)] == loc]
    return f"{where} with " + " ".join(f"--set {item}" for item in inside) if inside else where


def _unknown_key_message(model: type[BaseModel], loc: tuple, setter: Setter | None) -> str:
    """For the unknown key at `loc`: 'unknown key; did you mean --set KEY=VALUE?' when a --set gave
    it and a close key exists, else 'unknown key; valid keys here: ... (did you mean KEY?)'."""
    valid = _valid_keys(model, loc[:-1])
    typed = ".".join(setter[0]) if setter else ".".join(str(p) for p in loc)
    close = closest_keys(typed, key_paths(model, sections=False))
    if close and setter:  # the fix first, as a --set to paste
        value = setter[1].split("=", 1)[1]
        others = f" (or {', '.join(close[1:])})" if len(close) > 1 else ""
        return f"unknown key; did you mean --set {shlex.quote(f'{close[0]}={value}')}{others}?"
    msg = f"unknown key; valid keys here: {', '.join(valid)}" if valid else "unknown key"
    return msg + (f" (did you mean {' or '.join(close)}?)" if close else "")


def _valid_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    cls: Any = model
    for part in loc:
        field = _section_model(getattr(cls, "model_fields", {}).get(part))
        if field is None:
            return []
        cls = field
    return sorted(getattr(cls, "model_fields", {}))


def _section_model(field: Any) -> type[BaseModel] | None:
    """The model class a field holds (also through `X | None`), or None for a plain value."""
    if field is None:
        return None
    candidates = [field.annotation, *get_args(field.annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def key_paths(model: type[BaseModel], prefix: str = "", sections: bool = True) -> list[str]:
    """Every dotted key a config of `model` accepts: `train`, `train.optimizer`, `train.optimizer.lr`, ...
    (without `sections`, only the keys that hold values)."""
    paths = []
    for name, field in model.model_fields.items():
        section = _section_model(field)
        if section is None or sections:
            paths.append(prefix + name)
        if section is not None:
            paths += key_paths(section, f"{prefix}{name}.", sections)
    return paths


def closest_keys(typed: str, paths: list[str], n: int = 3) -> list[str]:
    """The valid dotted keys nearest to a mistyped one, best first: those ending in the same key
    (`train.lr` -> train.optimizer.lr, `trian.max_steps` -> train.max_steps), then those whose last
    key is spelled alike (`model.hiden_size` -> model.hidden_size). Section names are not compared:
    a shared `train.` would make every key of train look close."""
    leaf = typed.rsplit(".", 1)[-1]

    def likeness(path: str) -> tuple[float, float]:
        last = path.rsplit(".", 1)[-1]
        return difflib.SequenceMatcher(None, leaf, last).ratio(), difflib.SequenceMatcher(None, typed, path).ratio()

    near = [p for p in paths if difflib.get_close_matches(leaf, [p.rsplit(".", 1)[-1]], cutoff=0.75)]
    return sorted(near, key=likeness, reverse=True)[:n]


def validate(model: type[M], data: Any, where: str = "config", overrides: Iterable[Setter] = ()) -> M:
    """Validate plain data into `model`, raising ConfigError that names `where` (or the --set) and the key."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, where, model, overrides)) from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file, with errors that name the file and line."""
    return parse_yaml(presets.read_file(Path(path), str(path)), str(path))


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text within textseq.safeyaml's limits; errors name `where` and the line."""
    return safeyaml.load(text, where)


def read_config(ref: str | Path, kind: str | None = None) -> tuple[Any, str]:
    """(parsed YAML, its name for messages) of a config file or a preset name such as `char_lstm`;
    with `kind`, a preset must be of that kind (see textseq.presets.locate)."""
    text, where = presets.read_text(ref, kind)
    return parse_yaml(text, where), where


def parse_override(item: str) -> tuple[list[str], Any]:
    """'train.lr=3e-4' -> (['train', 'lr'], 0.0003). Values are parsed as YAML (textseq.safeyaml)."""
    if "=" not in item:
        raise ConfigError(f"--set {item}: must look like KEY=VALUE, e.g. --set train.max_steps=100")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {item}: the key before '=' is empty")
    try:
        value = parse_yaml(raw, f"--set {item}") if raw.strip() else ""
    except safeyaml.RefusedError:
        raise
    except ConfigError:
        value = raw  # not YAML (e.g. an unbalanced bracket): taken as the string it is
    return parts, value


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    """Set dotted keys in a nested dict (a copy); unknown keys are caught later by validation."""
    return _apply_overrides(data, overrides)[0]


def _apply_overrides(data: dict, overrides: Iterable[str], where: str = "config") -> tuple[dict, list[Setter]]:
    """`apply_overrides`, also returning each --set's key path for error messages."""
    data = safeyaml.plain_copy(data, where)  # bounded: shared (aliased) values are refused past a limit
    setters: list[Setter] = []
    for item in overrides:
        parts, value = parse_override(item)
        node = data
        for i, p in enumerate(parts[:-1]):
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item}: {'.'.join(parts[:i + 1])} is a value, not a section of keys")
            node = child
        node[parts[-1]] = safeyaml.plain_copy(value, f"--set {item}")
        setters.append((tuple(parts), item))
    if setters:  # each value is bounded; so must be their sum
        data = safeyaml.plain_copy(data, f"{where} with its --set values")
    return data, setters


def load_config(model: type[M], path: str | Path | None = None, overrides: Iterable[str] = (), data: dict | None = None) -> M:
    """Load the YAML file or preset `path` (or plain `data`), apply `--set` overrides, validate strictly."""
    raw, where = (data or {}), "config"
    if path is not None:
        raw, where = read_config(path, getattr(model, "preset_kind", None))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of keys")
    raw, setters = _apply_overrides(raw, overrides, where)
    return validate(model, raw, where, setters)


def dump_config(cfg: BaseModel, path: str | Path) -> None:
    """Write the resolved config as YAML (used next to every run and artefact), atomically: a symbolic
    link at `path` is replaced, never written through."""
    from textseq.fileio import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
