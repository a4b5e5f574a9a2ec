"""Run directories: what a task writes at the start of a run, and what it checks before resuming.

    RUN_DIR/run.json      {"task": ..., "<task>_format": N, "textseq_version": ...}
    RUN_DIR/config.yaml   the resolved job config
    RUN_DIR/.lock         held (flock) by the one process training into the directory

A task describes itself once with a `RunKind`; `open_run_dir` then starts a new run (refusing, unless
forced, a directory that already holds checkpoints or other files) or checks that a resume is possible
(same task and format, and no change to the config sections that shape data and model).

A run writes inside its directory only: run.json, config.yaml and the reports (ATOMIC) are written
through a temporary file renamed into place, so a symbolic link planted at one of those names is
replaced and its target left untouched; a link in place of any other file or folder a run writes
or appends to (PREPARED, RUN_OUTPUTS) is refused before training starts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from textseq import __version__
from textseq.config import dump_config
from textseq.errors import ConfigError, InputError, TextseqError
from textseq.fileio import atomic_write_text
from textseq.train.checkpoint import CheckpointError, list_checkpoints

log = logging.getLogger(__name__)
RUN_FILE = "run.json"


@dataclass(frozen=True)
class RunKind:
    """How one task (language model, classifier, ...) marks and recognises its run directories."""

    task: str  # "lm", "classify"
    name: str  # in messages: "language-model", "classification"
    format_label: str  # in messages: "LM format 1"
    format: int  # layout of run.json / extra.json; bump when older readers would misread them
    command: str  # the command that writes such runs, for messages
    fixed_on_resume: tuple[str, ...]  # top-level config sections a resume may not change
    changeable: tuple[str, ...] = ()  # dotted keys inside those sections that may change anyway
    may_change: str = "train.*"  # said in the error, e.g. "train.* and sample.*"

    @property
    def format_key(self) -> str:
        return f"{self.task}_format"

    def info(self) -> dict[str, Any]:
        """What run.json and every checkpoint's extra.json say about their writer."""
        return {"task": self.task, self.format_key: self.format, "textseq_version": __version__}

    def check_compatible(self, info: Any, where: str) -> None:
        """CheckpointError unless `info` (run.json or extra.json) comes from a compatible run of this task."""
        task = info.get("task") if isinstance(info, dict) else None
        if task != self.task:
            raise CheckpointError(f"{where} is not a {self.name} run (task {task!r}); expected one written by "
                                  f"`{self.command}`")
        if info.get(self.format_key) != self.format:
            raise CheckpointError(
                f"{where} was written by textseq {info.get('textseq_version', '?')} with {self.format_label} format "
                f"{info.get(self.format_key)!r}; this textseq {__version__} reads {self.format_label} format {self.format}. "
                "Use the release that wrote it, or train a new run")


def read_run_info(run_dir: str | Path) -> dict[str, Any] | None:
    """run.json of a run dir, or None when there is none."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is corrupt (not valid JSON): {err}") from None


def config_changes(old: Any, new: Any, prefix: str) -> list[str]:
    """Dotted keys whose values differ, as 'data.bptt (128 -> 64)'."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(set(old) | set(new)) for d in config_changes(old.get(k), new.get(k), f"{prefix}.{k}")]
    return [] if old == new else [f"{prefix} ({old!r} -> {new!r})"]


def open_run_dir(run_dir: str | Path, config: BaseModel, kind: RunKind, resume: bool,
                 load_saved: Callable[[Path], BaseModel], force: bool = False) -> Path:
    """Start a run in `run_dir` (or check that `resume` can continue it), then write run.json and the
    resolved config.yaml. `load_saved` reads the config.yaml a previous run left there.

    A new run goes into a missing or empty directory, or restarts a run of the same task that
    stopped before its first checkpoint (its prepared data is reused while the config matches).
    A run with checkpoints is resumed (`resume`) or, with `force`, started over: the files a run
    writes are removed first (never anything else). A non-empty directory that is no run takes
    `force`. A resume of a run with no checkpoint yet starts it from the first step."""
    run_dir = Path(run_dir)
    check_run_dir(run_dir, resume, force)
    checkpoints = list_checkpoints(run_dir)
    info = read_run_info(run_dir)
    if info is not None:
        kind.check_compatible(info, str(run_dir / RUN_FILE))
    if resume:
        if checkpoints:
            _check_unchanged(run_dir, config, kind, load_saved)
        else:
            log.warning(f"{run_dir} has no checkpoint yet (the run stopped before its first one): training it "
                        "from the first step; its prepared data is reused while the data config matches")
    elif checkpoints:
        if not force:
            raise TextseqError(f"{run_dir} already holds checkpoints; resume it (--resume), start it over (--force), "
                               "or choose a new run directory")
        log.warning(f"--force: starting {run_dir} over; its checkpoints, metrics and reports are removed")
        clear_run(run_dir)
    elif info is not None:
        log.info(f"{run_dir} holds a run stopped before its first checkpoint: starting it over")
        clear_run(run_dir)
    _refuse_links(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / RUN_FILE, json.dumps(kind.info(), indent=1) + "\n")
    dump_config(config, run_dir / "config.yaml")
    return run_dir


def check_run_dir(run_dir: str | Path, resume: bool, force: bool) -> None:
    """The checks that need no lock, made before the lock file is created in `run_dir` (and again under
    it): a file is no run directory, a resume needs a run, a new run needs an empty directory or a run."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise InputError(f"run directory {run_dir} is a file; name a directory")
    if list_checkpoints(run_dir) or (run_dir / RUN_FILE).is_file():
        return
    if resume:
        state = "does not exist" if not run_dir.exists() else f"holds no run (no checkpoints, no {RUN_FILE})"
        raise CheckpointError(f"nothing to resume: {run_dir} {state}")
    foreign = _foreign_files(run_dir)
    if foreign and not force:
        shown = ", ".join(sorted(p.name for p in foreign)[:3]) + (", ..." if len(foreign) > 3 else "")
        raise TextseqError(f"{run_dir} is not empty ({shown}) and holds no textseq run; give --force to train into it "
                           "anyway, or choose a new run directory")


# What a training run writes besides its config and prepared data: what --force removes to start over.
RUN_OUTPUTS = ("step-*", "best", "best.old", "*.tmp", ".*.tmp", "latest", "metrics.jsonl", "report.json",
               "sample.txt", "eval_*.json", "train_config.yaml", "tensorboard", "plots")


# Written whole through a temporary file renamed over them (textseq.fileio): a symbolic link planted
# at one of these names is replaced by the new file, its target left untouched.
ATOMIC = ("config.yaml", "sample.txt", "report.json", "eval_*.json", "train_config.yaml")


def clear_run(run_dir: Path) -> None:
    """Remove the checkpoints, metrics and reports of an earlier run in `run_dir` (symbolic links are
    unlinked, never followed)."""
    import shutil

    for pattern in RUN_OUTPUTS:
        for path in run_dir.glob(pattern):
            if path.is_symlink() or not path.is_dir():
                path.unlink()
            else:
                shutil.rmtree(path)


def _refuse_links(run_dir: Path) -> None:
    """InputError when a file or folder the run prepares, appends to or renames into place is a symbolic
    link: training writes inside RUN_DIR only, never through a link to somewhere else."""
    if not run_dir.is_dir():
        return
    for pattern in (*PREPARED, *RUN_OUTPUTS):
        if pattern in ATOMIC:
            continue
        for path in run_dir.glob(pattern):
            if path.is_symlink():
                raise InputError(f"{path} is a symbolic link; a run writes only inside its directory, never through "
                                 "a link: remove the link (or choose a new run directory)")


# What a task prepares before training (codec or vocabulary, encoded splits): a directory holding only
# these and RUN_OUTPUTS is a run's, e.g. one whose encoded data was copied in to be reused.
PREPARED = ("config.yaml", "data", "codec.json", "subword.model", "pipeline.yaml", "vocab.json", "labels.json")


def _foreign_files(run_dir: Path) -> list[Path]:
    """What `run_dir` holds that no run writes (its lock file, prepared data and outputs aside)."""
    if not run_dir.is_dir():
        return []
    known = {LOCK_FILE, RUN_FILE, *PREPARED}
    return [p for p in run_dir.iterdir()
            if p.name not in known and not any(p.match(pattern) for pattern in RUN_OUTPUTS)]


def _check_unchanged(run_dir: Path, config: BaseModel, kind: RunKind, load_saved: Callable[[Path], BaseModel]) -> None:
    """ConfigError when a resume would change a config section that shapes the data or the model."""
    saved_path = run_dir / "config.yaml"
    if not saved_path.is_file():
        return
    old, new = load_saved(saved_path).model_dump(mode="json"), config.model_dump(mode="json")
    changed = [d for key in kind.fixed_on_resume for d in config_changes(old[key], new[key], key)]
    changed = [c for c in changed if not c.startswith(kind.changeable)]
    if changed:
        raise ConfigError(f"cannot resume {run_dir} with a different data/model config; changed: {', '.join(changed)}. "
                          f"Only {kind.may_change} may change on resume")


LOCK_FILE = ".lock"


class RunLock:
    """An exclusive lock on a run directory for the process that trains into it.

    flock() on RUN_DIR/.lock: the kernel drops it when the holder exits, however it dies, so a run
    killed with SIGKILL never blocks its own --resume. Readers (generate, eval-*, plot) do not take
    it and work while a run trains. The file holds the holder's pid, for the message a second
    writer gets."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        """Take the lock, or raise TextseqError naming the pid of the process that holds it."""
        import fcntl
        import os

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_NOFOLLOW: a symlink planted as the lock file is refused, never written through
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            raise TextseqError(f"cannot lock {self.path}: {err.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise TextseqError(f"{self.path.parent} is in use by another training process (pid {holder}); wait for it "
                               "to finish, or train into another run directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (closing the descriptor releases the flock)."""
        import os

        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
