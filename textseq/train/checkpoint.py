"""Checkpoints: safetensors + JSON only, written atomically, verified on load.

    run_dir/
      latest                  "step-000120" (for people and scripts; resume scans the dirs, see below)
      step-000100/            the last `keep_last` checkpoints
      step-000120/
        model.safetensors     weights (save_model de-duplicates tied weights)
        optimizer.safetensors optimizer tensors; its nesting in the file's JSON metadata
        state.safetensors     the recurrent state carried into the next window (empty for classifiers)
        extra.json            what the caller passes: resolved config, vocab, pipeline spec
        trainer.json          format_version, step, epoch, data position, RNG, schedule, scaler,
                              best metric, the train config, and each other file's size and sha256
      best/                   hard links to the checkpoint with the best monitored eval metric

A checkpoint is built in `step-000120.tmp/`, every file fsynced, then renamed into place, so a
kill at any moment leaves either the complete directory or a `.tmp` leftover that is ignored and
swept up. The `latest` pointer is written after the rename, so it may lag one checkpoint behind a
kill; that is why resuming scans the step directories instead of trusting it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textseq.fileio import sha256_file
from textseq.errors import TextseqError, one_line

if TYPE_CHECKING:  # torch and safetensors load in the functions that write or read tensors, so that
    import torch  # listing and verifying checkpoints (`textseq --help` builds on it) stays torch-free
    from torch import nn

FORMAT_VERSION = 1
TRAINER_JSON = "trainer.json"
# trainer.json last: it holds the manifest (size, sha256) of the others.
PAYLOAD_FILES = ("model.safetensors", "optimizer.safetensors", "state.safetensors", "extra.json")
STEP_RE = re.compile(r"^step-(\d+)$")


class CheckpointError(TextseqError):
    """A checkpoint is missing, truncated, corrupt, or from an incompatible format version."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: its directory, trainer.json, extra.json and the carried recurrent state."""

    path: Path
    trainer: dict[str, Any]
    extra: dict[str, Any]
    carried_state: Any = None

    @property
    def step(self) -> int:
        """Optimizer steps completed when it was written."""
        return int(self.trainer["step"])


def step_dir_name(step: int) -> str:
    """12 -> 'step-000012' (zero-padded so names sort like numbers)."""
    return f"step-{step:06d}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _write_json(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())




def write_pointer(run_dir: Path, name: str, target: str) -> None:
    """Atomically (re)write a small text file such as `latest`."""
    tmp = run_dir / f".{name}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(target + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, run_dir / name)


def save_checkpoint(
    run_dir: Path,
    step: int,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    carried_state: Any,
    trainer_state: dict[str, Any],
    extra: dict[str, Any] | None = None,
    keep_last: int = 3,
    is_best: bool = False,
) -> Path:
    """Write `step-XXXXXX/` atomically, update `latest` (and `best/`), drop checkpoints beyond `keep_last`."""
    from safetensors.torch import save_model

    from textseq.train.serialize import save_tree

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / step_dir_name(step)
    tmp = run_dir / (final.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_model(model, str(tmp / "model.safetensors"))
    save_tree(optimizer.state_dict(), tmp / "optimizer.safetensors")
    save_tree(carried_state, tmp / "state.safetensors")
    _write_json(tmp / "extra.json", extra or {})
    for name in PAYLOAD_FILES[:3]:
        _fsync_file(tmp / name)
    manifest = {name: {"bytes": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)} for name in PAYLOAD_FILES}
    _write_json(tmp / TRAINER_JSON, {"format_version": FORMAT_VERSION, **trainer_state, "files": manifest})
    _fsync_dir(tmp)
    if final.exists():  # re-saving the same step (e.g. final checkpoint right after a periodic one)
        _remove_dir(final)
    os.replace(tmp, final)
    _fsync_dir(run_dir)
    write_pointer(run_dir, "latest", final.name)
    if is_best:
        _update_best(run_dir, final)
    for old in list_checkpoints(run_dir)[:-keep_last]:
        _remove_dir(old)
    return final


def _remove_dir(path: Path) -> None:
    # Rename first, so a kill half-way through leaves a `.tmp` leftover, never a half-deleted step dir.
    doomed = path.with_name(path.name + ".old.tmp")
    if doomed.exists():
        shutil.rmtree(doomed)
    os.replace(path, doomed)
    shutil.rmtree(doomed)


def _update_best(run_dir: Path, source: Path) -> None:
    tmp, best, old = run_dir / "best.tmp", run_dir / "best", run_dir / "best.old"
    for leftover in (tmp, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    tmp.mkdir()
    for f in source.iterdir():
        try:
            os.link(f, tmp / f.name)  # files are never modified in place, so sharing inodes is safe
        except OSError:
            shutil.copy2(f, tmp / f.name)
    _fsync_dir(tmp)
    # A directory cannot be replaced in one rename; the short window without best/ is repaired by
    # clean_stale() (best.old is moved back).
    if best.exists():
        os.replace(best, old)
    os.replace(tmp, best)
    _fsync_dir(run_dir)
    if old.exists():
        shutil.rmtree(old)


def clean_stale(run_dir: Path) -> list[Path]:
    """Remove `.tmp` leftovers of interrupted writes (and restore best/ if a swap was cut short)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    best, old = run_dir / "best", run_dir / "best.old"
    if old.is_dir() and not best.exists():
        os.replace(old, best)
    removed = []
    for p in run_dir.iterdir():
        if p.is_dir() and (p.name.endswith(".tmp") or p.name == "best.old"):
            shutil.rmtree(p)
            removed.append(p)
    return removed


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete step-* checkpoint directories of `run_dir`, oldest first (`.tmp` leftovers excluded)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if p.is_dir() and (m := STEP_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def verify_checkpoint(path: Path) -> dict[str, Any]:
    """Check every file exists, trainer.json parses and matches this format, and sizes/hashes agree."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint directory not found: {path}")
    meta_path = path / TRAINER_JSON
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file missing: {meta_path}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint file is corrupt (not valid JSON): {meta_path}: {err}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint file is corrupt (not a JSON object): {meta_path}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path}: checkpoint format_version {version!r}, but this textseq reads version "
            f"{FORMAT_VERSION}; use the textseq release that wrote it, or start a new run"
        )
    manifest = meta.get("files", {})
    for name in PAYLOAD_FILES:
        f = path / name
        if not f.is_file():
            raise CheckpointError(f"checkpoint file missing: {f}")
        want = manifest.get(name)
        if want is None:
            raise CheckpointError(f"{meta_path} has no manifest entry for {name}")
        size = f.stat().st_size
        if size != want["bytes"]:
            raise CheckpointError(f"checkpoint file is truncated or corrupt: {f} ({size} bytes, expected {want['bytes']})")
        if sha256_file(f) != want["sha256"]:
            raise CheckpointError(f"checkpoint file is corrupt (sha256 mismatch): {f}")
    return meta


def load_checkpoint(
    path: Path,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    device: torch.device | str = "cpu",
) -> Checkpoint:
    """Verify a checkpoint directory and load it (into `model`/`optimizer` when given)."""
    from textseq.train.serialize import load_tree

    path = Path(path)
    meta = verify_checkpoint(path)
    extra = _read_json(path / "extra.json")
    if model is not None:
        load_weights(model, path / "model.safetensors", device)
    if optimizer is not None:
        f = path / "optimizer.safetensors"
        try:
            state = load_tree(f, device)
            _retuple(state, optimizer)
            optimizer.load_state_dict(state)
        except Exception as err:
            raise CheckpointError(f"cannot load {f} into the optimizer: {err}") from None
    f = path / "state.safetensors"
    try:
        carried = load_tree(f, device)
    except Exception as err:
        raise CheckpointError(f"checkpoint file is corrupt: {f}: {err}") from None
    return Checkpoint(path=path, trainer=meta, extra=extra, carried_state=carried)


def load_weights(model: nn.Module, weights: Path, device: torch.device | str = "cpu") -> nn.Module:
    """`model` holding the weights of a safetensors file (every key, every shape), on `device`;
    CheckpointError naming the file when they do not fit."""
    from safetensors.torch import load_model

    try:
        load_model(model, str(weights), strict=True, device=str(device))
    except Exception as err:  # safetensors raises several types for bad headers and key mismatches
        raise CheckpointError(f"cannot load {weights} into {type(model).__name__}: {one_line(err)}") from None
    return model.to(device)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint file is corrupt (not valid JSON): {path}: {err}") from None


def _retuple(state: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
    # JSON has no tuples; put back the ones the live optimizer uses (e.g. AdamW's betas).
    for saved, live in zip(state.get("param_groups", []), optimizer.param_groups):
        for key, value in live.items():
            if isinstance(value, tuple) and isinstance(saved.get(key), list):
                saved[key] = tuple(saved[key])


def find_resumable(run_dir: Path) -> tuple[Path, list[str]]:
    """The newest checkpoint of `run_dir` that verifies, and why any newer ones were skipped."""
    run_dir = Path(run_dir)
    candidates = list_checkpoints(run_dir)
    if not candidates:
        raise CheckpointError(f"no checkpoint to resume from in {run_dir} (no step-* directories)")
    problems: list[str] = []
    for path in reversed(candidates):
        try:
            verify_checkpoint(path)
            return path, problems
        except CheckpointError as err:
            if "format_version" in str(err):
                raise  # an older/newer textseq wrote this run: falling back would hide that
            problems.append(str(err))
    raise CheckpointError(f"no usable checkpoint in {run_dir}:\n" + "\n".join(problems))
