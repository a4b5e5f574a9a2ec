"""Run directories: what a task writes at the start of a run, and what it checks before resuming.

    RUN_DIR/run.json      {"task": ..., "<task>_format": N, "textseq_version": ...}
    RUN_DIR/config.yaml   the resolved job config
    RUN_DIR/.lock         held (flock) by the one process training into the directory

A task describes itself once with a `RunKind`; `open_run_dir` then starts a new run (refusing a
directory that already holds checkpoints) or checks that a resume is possible (same task and format,
and no change to the config sections that shape data and model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

from textseq import __version__
from textseq.config import dump_config
from textseq.errors import ConfigError, TextseqError
from textseq.train.checkpoint import CheckpointError, list_checkpoints

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
                 load_saved: Callable[[Path], BaseModel]) -> Path:
    """Start a run in `run_dir` (or check that `resume` can continue it), then write run.json and the
    resolved config.yaml. `load_saved` reads the config.yaml a previous run left there."""
    run_dir = Path(run_dir)
    if resume and not list_checkpoints(run_dir):
        raise CheckpointError(f"nothing to resume: {run_dir} has no checkpoints (step-* directories)")
    if not resume and list_checkpoints(run_dir):
        raise TextseqError(f"{run_dir} already holds checkpoints; resume it (--resume) or choose a new run directory")
    info = read_run_info(run_dir)
    if info is not None:
        kind.check_compatible(info, str(run_dir / RUN_FILE))
    if resume:
        _check_unchanged(run_dir, config, kind, load_saved)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RUN_FILE).write_text(json.dumps(kind.info(), indent=1) + "\n", encoding="utf-8")
    dump_config(config, run_dir / "config.yaml")
    return run_dir


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
