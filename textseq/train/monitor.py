"""Tracking the best value of an evaluation metric (for best/ and for early stopping)."""

from __future__ import annotations

import math
from typing import Any


class Improvement:
    """The best value seen so far of one metric, and how many evaluations since it improved."""

    def __init__(self, mode: str = "min", min_delta: float = 0.0) -> None:
        self.mode = mode
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_step: int | None = None
        self.bad = 0

    def is_better(self, value: float) -> bool:
        """Would `value` count as an improvement (by more than min_delta)?"""
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, step: int) -> bool:
        """Record one evaluation; True when it is a new best."""
        if self.is_better(value):
            self.best, self.best_step, self.bad = value, step, 0
            return True
        self.bad += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON state."""
        return {"best": self.best, "best_step": self.best_step, "bad": self.bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned."""
        self.best, self.best_step, self.bad = state["best"], state["best_step"], int(state["bad"])
