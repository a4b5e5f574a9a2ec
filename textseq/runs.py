"""One way to open a run: `load_run(path)` gives the trained model, its codec and its resolved config,
whatever task wrote it. `generate`, `eval-lm`, `predict`, `eval-classifier`, LM transfer and the
Python API all go through it.

    run = load_run("runs/char-lstm")            # the best/ checkpoint (latest when a run never evaluated)
    run.model, run.codec, run.config            # RecurrentLM, CharCodec, LMJobConfig
    load_run("runs/imdb-gru/step-000400")      # a checkpoint directory works too

Tasks are found by the name run.json and every checkpoint's extra.json carry ("lm", "classify").
Adding a task is one line in TASKS. Only JSON and safetensors are read (never pickle), and a
checkpoint is verified (sizes, sha256, format version) before anything is loaded from it.
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textseq.errors import ConfigError
from textseq.registry import unknown_name_message

log = logging.getLogger(__name__)

# task name (run.json "task") -> "module:Class" of its Task; imported on first use, so that naming a
# task imports neither torch nor the task's dependencies.
TASKS: dict[str, str] = {
    "lm": "textseq.lm.task:LMTask",
    "classify": "textseq.classify.task:ClassifyTask",
    "ngram": "textseq.classify.ngram_task:NgramTask",
    "ensemble": "textseq.classify.ensemble:EnsembleTask",
}


def get_task(name: str) -> Any:
    """A fresh Task object for `name`; ConfigError listing the known tasks otherwise."""
    if name not in TASKS:
        raise ConfigError(unknown_name_message("task", name, TASKS))
    module, _, cls = TASKS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


@dataclass
class Run:
    """A trained model ready to use, with everything that came with it."""

    model: Any  # torch.nn.Module in eval mode, on the requested device
    codec: Any  # text -> ids (textseq.codecs), built exactly as in training
    config: Any  # the resolved job config the run was trained with
    task: str  # "lm", "classify", ...
    path: Path  # the checkpoint directory it was loaded from
    extra: dict[str, Any]  # the checkpoint's extra.json
    labels: list[str] | None = None  # class names, in output order (classifiers)

    @property
    def run_dir(self) -> Path:
        """The run directory that holds the checkpoint."""
        return self.path.parent


def resolve_checkpoint(run_dir: str | Path, checkpoint: str = "best") -> Path:
    """The checkpoint directory `checkpoint` (best | latest | a path) names in `run_dir`.

    `run_dir` may itself be a checkpoint directory. best falls back to latest in runs that never
    evaluated; latest is the newest checkpoint that verifies."""
    from textseq.train.checkpoint import TRAINER_JSON, CheckpointError, find_resumable

    run_dir = Path(run_dir)
    if (run_dir / TRAINER_JSON).exists():
        return run_dir
    if checkpoint not in ("best", "latest"):
        path = Path(checkpoint)
        if not path.exists() and (run_dir / checkpoint).exists():
            path = run_dir / checkpoint
        return path
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory not found: {run_dir}")
    if checkpoint == "best" and (run_dir / "best").is_dir():
        return run_dir / "best"
    path, problems = find_resumable(run_dir)
    for problem in problems:
        log.warning(f"skipping a damaged checkpoint: {problem}")
    return path


def read_extra(path: Path) -> dict[str, Any]:
    """A checkpoint's extra.json; CheckpointError naming the file when it is not a JSON object."""
    from textseq.train.checkpoint import CheckpointError

    try:
        extra = json.loads((path / "extra.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint file is corrupt (not valid JSON): {path / 'extra.json'}: {err}") from None
    if not isinstance(extra, dict):
        raise CheckpointError(f"{path / 'extra.json'}: expected a JSON object")
    return extra


def load_run(path: str | Path, checkpoint: str = "best", device: str = "cpu", task: str | None = None) -> Run:
    """Open the run (or checkpoint directory) at `path`: verify the checkpoint, rebuild its model,
    codec and config. `task` ("lm", "classify") makes a run of another task an error that says so."""
    from textseq.config import validate
    from textseq.train.checkpoint import CheckpointError, verify_checkpoint

    ckpt = resolve_checkpoint(path, checkpoint)
    verify_checkpoint(ckpt)  # sizes, sha256, format_version: before reading anything from it
    extra = read_extra(ckpt)
    name = extra.get("task")
    if name not in TASKS:
        raise CheckpointError(f"{ckpt / 'extra.json'}: not a textseq run (task {name!r}); expected one of "
                              f"{', '.join(sorted(TASKS))}")
    if task is not None and task != name and task in getattr(get_task(name), "serves", ()):
        task = name  # e.g. an n-gram classifier opened where a classifier is expected
    runner = get_task(task or name)  # the expected task checks the kind: a clear 'not a ... run' message
    runner.kind.check_compatible(extra, f"checkpoint {ckpt}")
    loaded = runner.load(extra, ckpt, device)
    config = validate(runner.config_model, extra.get("config"), where=f"{ckpt / 'extra.json'}: config")
    loaded.model.eval()
    return Run(loaded.model, loaded.codec, config, runner.kind.task, ckpt, extra, loaded.labels)
