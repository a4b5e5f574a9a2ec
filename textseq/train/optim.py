"""Optimizers and learning-rate schedules built from the config.

The schedule is our own small class rather than torch.optim.lr_scheduler: its whole state is a few
numbers, so it goes into trainer.json as plain JSON (torch's schedulers pickle lambdas), and one
object covers warmup, cosine decay and reduce-on-plateau, which torch would need three for.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import nn

from textseq.errors import ConfigError
from textseq.train.config import OptimizerConfig, ScheduleConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: matrices (decayed) and vectors/scalars such as biases and norm gains (not decayed)."""
    decay, no_decay = [], []
    seen: set[int] = set()
    for _, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:  # tied weights appear once
            continue
        seen.add(id(p))
        (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, cfg: OptimizerConfig, groups: list[dict] | None = None) -> torch.optim.Optimizer:
    """AdamW or SGD over `model`'s trainable parameters, or over caller-made param groups (each may
    carry its own "lr", as discriminative fine-tuning does)."""
    groups = groups if groups is not None else param_groups(model, cfg.weight_decay)
    if not groups:
        raise ConfigError("the model has no trainable parameters")
    if cfg.name == "adamw":
        # foreach: one kernel per operation over all parameters instead of one per parameter; on CPU
        # it is somewhat faster than torch's default loop there and gives the same numbers bit for bit
        kind = {"fused": True} if cfg.fused else {"foreach": True}
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, **kind)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


class LRSchedule:
    """lr(step) = base_lr * warmup(step) * cosine(step) * plateau_scale, set on every param group."""

    def __init__(self, cfg: ScheduleConfig, base_lrs: Iterable[float], total_steps: int | None = None) -> None:
        self.cfg = cfg
        self.base_lrs = [float(lr) for lr in base_lrs]
        self.total_steps = cfg.total_steps or total_steps
        if cfg.name == "cosine" and not self.total_steps:
            raise ConfigError("schedule.name=cosine needs schedule.total_steps or train.max_steps")
        # Reduce-on-plateau bookkeeping: the multiplier and the evaluations since the last improvement.
        self.scale = 1.0
        self.best: float | None = None
        self.bad_evals = 0

    def factor(self, step: int) -> float:
        """The lr multiplier for the optimizer step with 0-based index `step` (plateau scale excluded)."""
        cfg = self.cfg
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps  # never exactly 0: a zero-lr step would be wasted
        if cfg.name != "cosine":
            return 1.0
        assert self.total_steps is not None
        span = max(1, self.total_steps - cfg.warmup_steps)
        progress = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr + (1.0 - cfg.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def lr(self, step: int, group: int = 0) -> float:
        """The lr of param group `group` at 0-based step `step`."""
        return self.base_lrs[group] * self.factor(step) * self.scale

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> None:
        """Set every param group's lr for the upcoming step."""
        for i, group in enumerate(optimizer.param_groups):
            group["lr"] = self.lr(step, i)

    def on_eval(self, value: float, mode: str) -> bool:
        """Feed an evaluation metric to the plateau rule; True when the lr was just cut."""
        if self.cfg.name != "plateau" or not math.isfinite(value):
            return False
        improved = self.best is None or (value < self.best if mode == "min" else value > self.best)
        if improved:
            self.best, self.bad_evals = value, 0
            return False
        self.bad_evals += 1
        if self.bad_evals <= self.cfg.patience:
            return False
        self.scale = max(self.scale * self.cfg.factor, self.cfg.min_lr)
        self.bad_evals = 0
        return True

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON state (the config and base lrs come from the trainer, not from here)."""
        return {"scale": self.scale, "best": self.best, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.scale = float(state["scale"])
        self.best = None if state["best"] is None else float(state["best"])
        self.bad_evals = int(state["bad_evals"])
