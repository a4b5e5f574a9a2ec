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


class TimeBudgetCosine(Callback):
    """Cosine decay that ends when train.max_minutes does: the cosine's length is re-estimated after
    every step from this invocation's steps per second, so the lr reaches its floor when the time
    budget runs out, on a fast machine or a slow one. When max_epochs or max_steps would end the run
    sooner, the curve ends there instead (the shorter of the two).

    Without a step count the Trainer first sees a provisional total (so train_config.yaml shows
    1000000); config.yaml keeps the real config. A resumed run decays over what is left of the
    budget (the training time before the interruption counts), from the step it resumes at, so the
    curve continues where it was."""

    PROVISIONAL_STEPS = 1_000_000  # lets the Trainer build its schedule; replaced after the first step

    def __init__(self, minutes: float) -> None:
        self.budget = minutes * 60
        self.step0, self.cap, self.left = 0, None, self.budget

    @staticmethod
    def applies(train: Any) -> bool:
        """A cosine schedule, a time limit, and no explicit schedule.total_steps."""
        return train.schedule.name == "cosine" and train.max_minutes is not None and train.schedule.total_steps is None

    @classmethod
    def install(cls, train: Any) -> tuple[Any, list["TimeBudgetCosine"]]:
        """(the train config to build the Trainer with, [the callback]) where it applies, else (train, [])."""
        if not cls.applies(train):
            return train, []
        if train.max_steps is None and train.max_epochs is None:
            train = train.model_copy(update={"schedule": train.schedule.model_copy(
                update={"total_steps": cls.PROVISIONAL_STEPS})})
        return train, [cls(train.max_minutes)]

    def on_fit_start(self, trainer: "Trainer") -> None:
        self.step0 = trainer.step
        self.left = max(self.budget - trainer.elapsed_before, 1e-6)  # a resumed run has spent part of it
        total = trainer.schedule.total_steps
        self.cap = None if total == self.PROVISIONAL_STEPS else total  # what max_epochs/max_steps allow

    def on_step_end(self, trainer: "Trainer", step: int, logs: dict[str, Any]) -> None:
        elapsed = max(trainer.run_seconds(), 1e-6)  # the trainer's clock: time it excludes is excluded here too
        estimate = max(step + 1, round(self.step0 + (step - self.step0) * self.left / elapsed))
        trainer.schedule.total_steps = estimate if self.cap is None else min(self.cap, estimate)
