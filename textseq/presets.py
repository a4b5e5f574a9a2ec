"""Presets: the YAML configs shipped inside the package, named by their file stem (`char_lstm`,
`imdb_gru`, `sentiment`, `glove`), as `-c` arguments and pipeline references accept them.

The files live in the top-level configs/ folder of the source tree. textseq/configs is a symlink to
it, which a build follows, so a wheel carries real copies and an installed package reads them with
importlib.resources from any working directory; a checkout or an editable install reads them
through the link. The folder a file sits in is its kind:

    configs/lm/*.yaml          lm          `textseq train-lm -c NAME`
    configs/sentiment/*.yaml   sentiment   `textseq train-classifier -c NAME`
    configs/embed/*.yaml       embed       `textseq embed train -c NAME`
    configs/preprocess/*.yaml  preprocess  `textseq preprocess -c NAME`, `pipeline: NAME` in a job

This module imports neither torch nor pydantic: `textseq configs list` stays instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from textseq.errors import ConfigError
from textseq.registry import unknown_name_message

if TYPE_CHECKING:
    from importlib.abc import Traversable

KINDS = ("lm", "sentiment", "preprocess", "embed")  # folder names under configs/, in listing order
SUFFIX = ".yaml"
MAX_BYTES = 1_000_000  # the largest config file read; the shipped presets are under 3 kB


@dataclass(frozen=True)
class Preset:
    """One shipped config file: its name (the file stem), kind (its folder) and location."""

    name: str
    kind: str
    resource: Traversable

    @property
    def relpath(self) -> str:
        """'lm/char_lstm.yaml': where the file sits under configs/ in the source tree."""
        return f"{self.kind}/{self.name}{SUFFIX}"

    def text(self) -> str:
        """The YAML text, verbatim."""
        return self.resource.read_text(encoding="utf-8")

    def description(self) -> str:
        """The first comment line of the file, without its '#'."""
        for line in self.text().splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                return stripped.lstrip("#").strip()
            if stripped:
                break  # the description comes before the first key
        return ""


def configs_root() -> Traversable:
    """The shipped configs folder inside the installed package."""
    return resources.files("textseq") / "configs"


def scan() -> list[Preset]:
    """Every shipped config file, in KINDS order then by name (duplicates included, for the test)."""
    root = configs_root()
    found = []
    for kind in KINDS:
        folder = root / kind
        if not folder.is_dir():
            continue
        files = sorted((f for f in folder.iterdir() if f.name.endswith(SUFFIX)), key=lambda f: f.name)
        found += [Preset(f.name[: -len(SUFFIX)], kind, f) for f in files]
    return found


@lru_cache(maxsize=1)
def presets() -> dict[str, Preset]:
    """Name -> Preset. Names are unique across kinds, so a bare name is never ambiguous."""
    found = scan()
    if not found:
        raise ConfigError(f"no presets found in {configs_root()}: the package was built without its configs")
    table: dict[str, Preset] = {}
    for preset in found:
        if preset.name in table:
            raise ConfigError(f"preset name {preset.name!r} is used twice: configs/{table[preset.name].relpath} "
                              f"and configs/{preset.relpath}")
        table[preset.name] = preset
    return table


def names(kind: str | None = None) -> list[str]:
    """Preset names, all or of one kind, sorted."""
    return sorted(n for n, p in presets().items() if kind is None or p.kind == kind)


def get(name: str, kind: str | None = None) -> Preset:
    """The preset `name`; with `kind`, it must be of that kind. Errors list the valid names."""
    preset = presets().get(name)
    what = f"{kind} preset" if kind else "preset"
    if preset is None:
        raise ConfigError(unknown_name_message(what, name, names(kind)))
    if kind is not None and preset.kind != kind:
        raise ConfigError(f"preset {name!r} is a {preset.kind} config (configs/{preset.relpath}); expected one of "
                          f"the {kind} presets: {', '.join(names(kind))}")
    return preset


def locate(ref: str | Path, kind: str | None = None) -> Path | Preset:
    """A config reference -> the file it names, or the preset.

    - an existing file is that file;
    - a bare name (`char_lstm`, no folder, no suffix) is a preset;
    - a path such as configs/lm/char_lstm.yaml that is not there (the form older docs use, run from
      outside a checkout) is the preset of that name when it names the shipped file;
    - anything else is an error naming the missing file."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    text = str(ref)
    if path.name == text and not path.suffix:
        return get(text, kind)
    preset = presets().get(path.stem) if path.suffix == SUFFIX else None
    if preset is not None and path.parts[-3:] == ("configs", preset.kind, path.name):
        return get(preset.name, kind)
    raise ConfigError(f"config file not found: {text} (a preset is named without folder or suffix: "
                      f"{', '.join(names(kind))})")


def read_text(ref: str | Path, kind: str | None = None) -> tuple[str, str]:
    """(YAML text, a name for messages) of a file or preset reference (see `locate`)."""
    found = locate(ref, kind)
    if isinstance(found, Preset):
        return found.text(), f"preset {found.name} (configs/{found.relpath})"
    return read_file(found, str(ref)), str(ref)


def read_file(path: Path, where: str) -> str:
    """A config file's UTF-8 text; one-line errors for a file too large, unreadable or not UTF-8.
    At most MAX_BYTES + 1 bytes are read, whatever the file's size."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {where}") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {where}: {err.strerror or err}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"config file {where} is too large (over {MAX_BYTES:,} bytes; a config is a few kB)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {where} is not UTF-8 text (byte {err.start}: {err.reason})") from None
