"""Stopping a run that diverges before it writes checkpoints that are not worth resuming from.

A non-finite loss or gradient is caught at once by the Trainer. A run can also blow up while every
number stays finite: the loss jumps to a thousand while its weights grow towards 1e33. The guard
compares each optimizer step with the steps before it:

    loss      > loss_factor x median(loss over the last `window` steps),
                and more than `loss_margin` above it                               at once
    grad norm > grad_factor x median(grad norm over the last `window` steps),
                and above `grad_floor`                                              `patience` steps running

The margin and the floor keep a run whose loss and gradients are nearly zero (a classifier that fits
its training set) from being stopped by one hard batch: relative jumps are large there, absolute ones
are not.

and names the first step of the trouble (its onset). While a gradient streak is running the Trainer
writes no checkpoint, so the newest checkpoint always predates the onset: the one the error names,
and the one `--resume` would take, holds weights from before the run went wrong.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from textseq.config import StrictModel
from textseq.errors import TextseqError


class DivergenceConfig(StrictModel):
    """When a finite but exploding run is stopped (`train.divergence: null` turns the guard off)."""

    loss_factor: float = Field(10.0, gt=1)  # a step loss this many times the recent median ...
    loss_margin: float = Field(5.0, ge=0)  # ... and this much above it (nats) stops the run
    grad_factor: float = Field(100.0, gt=1)  # a gradient norm this many times the recent median ...
    grad_floor: float = Field(10.0, ge=0)  # ... and above this ...
    patience: int = Field(3, ge=1)  # ... for this many steps in a row stops the run
    window: int = Field(50, ge=5)  # steps in the running median; nothing is judged before it fills


@dataclass
class Verdict:
    """Why a run is stopped: a sentence, and the first step it applies to."""

    reason: str
    onset: int


class DivergenceGuard:
    """Watches step losses and gradient norms (see the module docstring); its state is saved with
    every checkpoint, so a resumed run judges exactly as an uninterrupted one."""

    def __init__(self, config: DivergenceConfig) -> None:
        self.cfg = config
        self.losses: deque[float] = deque(maxlen=config.window)
        self.norms: deque[float] = deque(maxlen=config.window)
        self.streak_start: int | None = None  # first step of the running gradient streak

    @property
    def in_streak(self) -> bool:
        """True while gradient norms have been exploding for fewer than `patience` steps."""
        return self.streak_start is not None

    def update(self, step: int, loss: float, grad_norm: float) -> Verdict | None:
        """Judge optimizer step `step` (1-based) from its mean loss and its gradient norm before clipping."""
        cfg, verdict = self.cfg, None
        if len(self.losses) == cfg.window:
            loss_median, norm_median = statistics.median(self.losses), statistics.median(self.norms)
            if loss > cfg.loss_factor * loss_median and loss - loss_median > cfg.loss_margin:
                verdict = Verdict(f"loss {loss:.4g} at step {step} is {loss / loss_median:.0f}x the median of the "
                                  f"last {cfg.window} steps ({loss_median:.4g})", step)
            elif grad_norm > max(cfg.grad_factor * norm_median, cfg.grad_floor):
                self.streak_start = step if self.streak_start is None else self.streak_start
                if step - self.streak_start + 1 >= cfg.patience:
                    verdict = Verdict(f"gradient norm above {cfg.grad_factor:g}x its recent median ({norm_median:.4g}) for "
                                      f"{cfg.patience} steps, from step {self.streak_start} to {step} (now {grad_norm:.4g})",
                                      self.streak_start)
                return verdict  # an exploding step does not enter the medians it is judged against
            else:
                self.streak_start = None
        if verdict is None:
            self.losses.append(loss)
            self.norms.append(grad_norm)
        return verdict

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON state."""
        return {"losses": list(self.losses), "norms": list(self.norms), "streak_start": self.streak_start}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore `state_dict()` (None: a checkpoint from before the guard; start empty)."""
        if not state:
            return
        self.losses.extend(float(x) for x in state["losses"])
        self.norms.extend(float(x) for x in state["norms"])
        self.streak_start = state["streak_start"]


def diverged_error(what: str, step: int, epoch: int, last_checkpoint: Any, onset: int | None = None) -> TextseqError:
    """The error that stops a diverging run at optimizer step `step` + 1, naming the last checkpoint
    written before `onset` (default: the step being taken); no checkpoint is written from the onset on."""
    where = f"{what} (epoch {epoch})" if onset is not None else f"{what} at step {step + 1} (epoch {epoch})"
    if last_checkpoint is None:
        return TextseqError(f"{where}; no checkpoint was written yet. Lower the learning rate "
                            "(--set train.optimizer.lr=...) or clip harder (--set train.clip_norm=...)")
    return TextseqError(
        f"{where}; the last good checkpoint is {last_checkpoint.name} in {last_checkpoint.parent}. "
        "Resume from it (--resume) with a lower learning rate (--set train.optimizer.lr=...) or a smaller "
        "--set train.clip_norm=..."
    )
