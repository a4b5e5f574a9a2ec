"""Typed configs: pydantic models with unknown keys forbidden, loaded from YAML (a file, or a preset
shipped in the package: see textseq.presets), overridable with dotted `key=value` pairs. Validation
errors name the file and the dotted key at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Iterable, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from textseq import presets
from textseq.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
    # A job schema names the kind of preset (textseq.presets.KINDS) that `-c NAME` picks for it.
    preset_kind: ClassVar[str | None] = None


def describe_validation_error(err: ValidationError, where: str, model: type[BaseModel] | None = None) -> str:
    """Turn a pydantic error into lines like `configs/x.yaml: train.lr: Input should be ...`."""
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden" and model is not None:
            valid = _valid_keys(model, e["loc"][:-1])
            if valid:
                msg = f"unknown key; valid keys here: {', '.join(valid)}"
        lines.append(f"{where}: {key}: {msg}")
    return "\n".join(lines)


def _valid_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    cls: Any = model
    for part in loc:
        field = getattr(cls, "model_fields", {}).get(part)
        if field is None:
            return []
        cls = field.annotation
    return sorted(getattr(cls, "model_fields", {}))


def validate(model: type[M], data: Any, where: str = "config") -> M:
    """Validate plain data into `model`, raising ConfigError that names `where` and the key."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, where, model)) from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file, with errors that name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    return parse_yaml(text, str(path))


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text; errors name `where` and the line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: invalid YAML: {err}") from None


def read_config(ref: str | Path, kind: str | None = None) -> tuple[Any, str]:
    """(parsed YAML, its name for messages) of a config file or a preset name such as `char_lstm`;
    with `kind`, a preset must be of that kind (see textseq.presets.locate)."""
    text, where = presets.read_text(ref, kind)
    return parse_yaml(text, where), where


def parse_override(item: str) -> tuple[list[str], Any]:
    """'train.lr=3e-4' -> (['train', 'lr'], 0.0003). Values are parsed as YAML scalars."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.subkey=value")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return parts, value


def apply_overrides(data: dict, overrides: Iterable[str]) -> dict:
    """Set dotted keys in a nested dict (a copy); unknown keys are caught later by validation."""
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for item in overrides:
        parts, value = parse_override(item)
        node = data
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {p!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def load_config(model: type[M], path: str | Path | None = None, overrides: Iterable[str] = (), data: dict | None = None) -> M:
    """Load the YAML file or preset `path` (or plain `data`), apply `--set` overrides, validate strictly."""
    raw, where = (data or {}), "config"
    if path is not None:
        raw, where = read_config(path, getattr(model, "preset_kind", None))
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of keys")
    raw = apply_overrides(raw, overrides)
    return validate(model, raw, where=where)


def dump_config(cfg: BaseModel, path: str | Path) -> None:
    """Write the resolved config as YAML (used next to every run and artefact), atomically: a symbolic
    link at `path` is replaced, never written through."""
    from textseq.fileio import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
