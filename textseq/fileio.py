"""Small file helpers shared by the commands, run directories, checkpoints, codecs and the corpus cache.

Outputs are written the one safe way: into a temporary file beside the target, renamed over it only
when complete (`atomic_path`, `atomic_write_text`). The rename replaces whatever sits at the target
name, so a symbolic link planted there is never written through; the temporary file is removed on
any error, so a full disk leaves no `.tmp` behind. `check_output_path` / `check_output_dir` refuse,
in one line each, what a command must not do to an output the user named: overwrite it without
--force, write it over one of the command's own inputs, or write to a directory that is not there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from textseq.errors import InputError

log = logging.getLogger(__name__)


def sha256_file(path: str | Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether `a` and `b` name the same file or directory: equal resolved paths, or (both existing)
    the same inode, which catches hard links too."""
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except OSError:
        return False


def _check_not_input(path: Path, inputs: Iterable[str | Path], what: str) -> None:
    for source in inputs:
        if source is None or not os.path.exists(source):
            continue  # stdin, a corpus name, a dataset: nothing on disk to clobber
        if same_file(path, source):
            raise InputError(f"{what} {path} is the input {source} itself; write the output to another path")


def check_output_path(path: str | Path, force: bool = False, what: str = "output",
                      inputs: Iterable[str | Path] = (), flag: str = "--force") -> Path:
    """An output FILE the user named, checked before any work starts: InputError (one line) when it is
    a directory, its folder is missing, it is one of `inputs`, or it exists and `force` is not set."""
    path = Path(path)
    _check_not_input(path, inputs, what)
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory; name a file")
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"{what} {path}: the directory {parent} does not exist; create it first")
    if (path.exists() or path.is_symlink()) and not force:
        raise InputError(f"{what} {path} already exists; give {flag} to overwrite it")
    return path


def check_output_dir(path: str | Path, force: bool = False, what: str = "output directory",
                     inputs: Iterable[str | Path] = (), flag: str = "--force") -> Path:
    """An output DIRECTORY the user named (created later, with its parents): InputError (one line) when
    it is a file, is one of `inputs`, or is not empty and `force` is not set."""
    path = Path(path)
    _check_not_input(path, inputs, what)
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {path} is a file, not a directory")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise InputError(f"{what} {path} is not empty; give {flag} to write into it anyway")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """`with atomic_path(out) as tmp: writer(tmp)`: the writer fills a new temporary file beside `out`
    (same suffixes, so writers that pick a format by extension still do), which then replaces `out`.
    A symbolic link at `out` is replaced, never followed; on any error the temporary file is removed
    and an OSError becomes an InputError naming `out`."""
    path = Path(path)
    suffix = "".join(s for s in path.suffixes[-2:] if len(s) <= 8)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    if path.is_symlink():
        log.warning(f"{path} is a symbolic link; replacing the link, not writing through it")
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs are ordinary files
        os.replace(tmp, path)
    except OSError as err:
        if err.filename not in (None, str(tmp), str(path)):
            raise  # not this write's error (say, reading an input inside the block)
        raise InputError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass  # renamed into place


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically, replacing (never following) a symbolic link there."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[object]:
    """`with atomic_open(out) as fh:` a file (text UTF-8 for "w", binary for "wb") that replaces `out`
    only when the block completes; nothing of it is left on an error."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh


def input_paths(*sources: str | Path | None) -> list[Path]:
    """The files and directories on disk that command inputs name: paths as given, and the file of a
    fetched CORPUS:SPLIT; standard input ('-'), datasets and unknown names give none."""
    found = []
    for source in sources:
        if source is None or str(source) in ("", "-") or str(source).startswith("hf:"):
            continue
        if os.path.lexists(source):
            found.append(Path(source))
        else:
            from textseq.corpora import split_file

            path = split_file(str(source))  # None: not a fetched corpus, nothing on disk to protect
            if path is not None:
                found.append(path)
    return found
