"""Callback events: the few moments a caller may want to act on, instead of dozens of trainer options.

Every event receives the trainer itself, so a callback can read `trainer.step`, `trainer.model`
and so on, or ask the run to end with `trainer.request_stop("reason")`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textseq.train.trainer import Trainer


class Callback:
    """Override the events you need; the rest do nothing."""

    def on_fit_start(self, trainer: "Trainer") -> None:
        """Before the first step (after a resume has been loaded)."""

    def on_step_end(self, trainer: "Trainer", step: int, logs: dict[str, Any]) -> None:
        """After every optimizer step; `logs` has this step's loss, count, lr and grad_norm."""

    def on_log(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        """After a train or valid record was written to metrics.jsonl."""

    def on_eval_end(self, trainer: "Trainer", metrics: dict[str, float]) -> None:
        """After each evaluation, with the dict the `evaluate` callable returned."""

    def on_checkpoint(self, trainer: "Trainer", path: Path) -> None:
        """After a checkpoint directory was written."""

    def on_fit_end(self, trainer: "Trainer") -> None:
        """When fit() returns normally (not when it raises)."""
