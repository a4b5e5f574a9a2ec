"""A run that explodes while staying finite is stopped, naming the step, and the checkpoint it
names (and the one --resume would take) predates the trouble."""

from __future__ import annotations

import math
import random

import pytest

from textseq.errors import TextseqError
from textseq.train.callbacks import Callback
from textseq.train.checkpoint import list_checkpoints
from textseq.train.divergence import DivergenceConfig, DivergenceGuard

from .test_trainer import classifier_trainer

WINDOW = DivergenceConfig(window=5, patience=3)


def _noisy_descent(guard: DivergenceGuard, steps: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    for step in range(1, steps + 1):
        loss = 3.0 * math.exp(-step / 200) * rng.uniform(0.5, 1.5)
        assert guard.update(step, loss, rng.uniform(0.1, 2.0)) is None


def test_ordinary_noisy_training_is_never_stopped():
    _noisy_descent(DivergenceGuard(DivergenceConfig()), 3000)


def test_a_loss_explosion_stops_at_once_naming_the_step():
    guard = DivergenceGuard(WINDOW)
    _noisy_descent(guard, 20)
    verdict = guard.update(21, 1e3, 1.0)
    assert verdict is not None and verdict.onset == 21 and "loss 1000 at step 21" in verdict.reason


def test_a_small_loss_that_jumps_by_a_large_factor_but_little_in_nats_is_left_alone():
    guard = DivergenceGuard(WINDOW)
    for step in range(1, 11):
        assert guard.update(step, 0.01, 0.01) is None
    assert guard.update(11, 0.5, 0.01) is None  # 50x the median, but half a nat: one hard batch


def test_exploding_gradients_stop_after_patience_steps_from_the_first_of_them():
    guard = DivergenceGuard(WINDOW)
    _noisy_descent(guard, 20)
    assert guard.update(21, 1.0, 1e4) is None and guard.in_streak
    assert guard.update(22, 1.0, 1.0) is None and not guard.in_streak  # one spike: forgiven
    assert guard.update(23, 1.0, 1e4) is None and guard.update(24, 1.0, 2e4) is None
    verdict = guard.update(25, 1.0, 3e4)
    assert verdict is not None and verdict.onset == 23 and "from step 23 to 25" in verdict.reason


def test_guard_state_round_trips():
    guard = DivergenceGuard(WINDOW)
    _noisy_descent(guard, 12)
    guard.update(13, 1.0, 1e4)
    again = DivergenceGuard(WINDOW)
    again.load_state_dict(guard.state_dict())
    assert again.state_dict() == guard.state_dict() and again.in_streak


class Explode(Callback):
    """From step `at` on, scale the model's loss (finite, but a thousand times larger)."""

    def __init__(self, at: int, loss_scale: float = 1.0, grad_scale: float = 1.0) -> None:
        self.at, self.loss_scale, self.grad_scale = at, loss_scale, grad_scale

    def on_step_end(self, trainer, step, logs):
        if step == self.at:
            trainer.model.scale = self.loss_scale
            if self.grad_scale != 1.0:
                for p in trainer.model.parameters():
                    p.register_hook(lambda g: g * self.grad_scale)


def test_a_finite_loss_explosion_stops_the_run_and_the_named_checkpoint_predates_it(tmp_path):
    trainer = classifier_trainer(tmp_path, callbacks=[Explode(at=12, loss_scale=1e4)], max_steps=40, checkpoint_every=1,
                                 keep_last=50, divergence=WINDOW.model_dump())
    with pytest.raises(TextseqError, match=r"loss .* at step 13 is .*x the median.*last good checkpoint is step-000012"):
        trainer.fit()
    assert list_checkpoints(tmp_path)[-1].name == "step-000012"  # what --resume would take


def test_exploding_gradients_write_no_checkpoint_from_their_first_step_on(tmp_path):
    trainer = classifier_trainer(tmp_path, callbacks=[Explode(at=12, grad_scale=1e6)], max_steps=40, checkpoint_every=1,
                                 keep_last=50, divergence=WINDOW.model_dump())
    with pytest.raises(TextseqError, match=r"from step 13 to 15.*last good checkpoint is step-000012"):
        trainer.fit()
    assert list_checkpoints(tmp_path)[-1].name == "step-000012"


def test_the_guard_can_be_turned_off(tmp_path):
    trainer = classifier_trainer(tmp_path, callbacks=[Explode(at=12, loss_scale=1e4)], max_steps=20, divergence=None)
    assert trainer.fit().step == 20
