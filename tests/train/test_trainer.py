"""The step loop: NaN stop, clipping, accumulation, early stopping, plateau, budgets, metrics, callbacks."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from tests.train.tiny import ListBatches, TinyClassifier, TinyLM, TokenStream, classifier_batches, lm_config, lm_evaluator
from textseq.errors import ConfigError, InputError, TextseqError
from textseq.train.callbacks import Callback
from textseq.train.checkpoint import list_checkpoints, load_checkpoint
from textseq.train.config import TrainConfig
from textseq.train.device import DistInfo
from textseq.train.metrics import read_metrics
from textseq.train.protocol import StepOutput
from textseq.train.trainer import Trainer

torch.set_num_threads(1)


def config(**overrides: Any) -> TrainConfig:
    base = dict(optimizer={"name": "sgd", "lr": 0.1, "weight_decay": 0.0}, max_steps=4, eval_every=1000, log_every=1,
                device="cpu", tensorboard=False)
    return TrainConfig.model_validate({**base, **overrides})


def classifier_trainer(run_dir: Path, batches=None, evaluate=None, callbacks=(), scale: float = 1.0, **cfg: Any) -> Trainer:
    torch.manual_seed(0)
    data = ListBatches(batches if batches is not None else classifier_batches(), shuffle=batches is None)
    return Trainer(TinyClassifier(scale=scale), config(**cfg), data, run_dir, evaluate=evaluate, callbacks=callbacks, progress=False)


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_fit_start(self, trainer): self.events.append(("fit_start", None))
    def on_step_end(self, trainer, step, logs): self.events.append(("step", dict(logs, step=step)))
    def on_log(self, trainer, record): self.events.append(("log", record))
    def on_eval_end(self, trainer, metrics): self.events.append(("eval", metrics))
    def on_checkpoint(self, trainer, path): self.events.append(("checkpoint", path))
    def on_fit_end(self, trainer): self.events.append(("fit_end", None))

    def of(self, kind: str) -> list[Any]:
        return [v for k, v in self.events if k == kind]


def test_nan_loss_stops_with_the_last_good_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trainer = Trainer(TinyLM(nan_at=7), lm_config(checkpoint_every=3, eval_every=100), TokenStream(seed=1), tmp_path, progress=False)
    with pytest.raises(TextseqError, match=re.escape("loss became nan at step 7 (epoch 0); the last good checkpoint is step-000006")):
        trainer.fit()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000003", "step-000006"]
    assert (tmp_path / "latest").read_text().strip() == "step-000006"
    assert load_checkpoint(tmp_path / "step-000006", TinyLM()).step == 6
    assert max(r["step"] for r in read_metrics(tmp_path)) == 6


@pytest.mark.parametrize("clip", [0.5, None])
def test_clipping_caps_the_global_norm(tmp_path: Path, clip: float | None) -> None:
    rec = Recorder()
    trainer = classifier_trainer(tmp_path, callbacks=[rec], scale=1000.0, clip_norm=clip, max_steps=1, optimizer={"name": "sgd", "lr": 1.0, "weight_decay": 0.0})
    before = [p.detach().clone() for p in trainer.params]
    trainer.fit()
    # plain SGD with lr 1: the update is exactly the (clipped) gradient
    update = math.sqrt(sum(float((p.detach() - b).pow(2).sum()) for p, b in zip(trainer.params, before)))
    raw = rec.of("step")[0]["grad_norm"]
    assert raw > 10  # the loss scale made the gradient large
    if clip is None:
        assert update == pytest.approx(raw, rel=1e-4)
    else:
        assert update == pytest.approx(clip, rel=1e-4)


def test_accumulating_two_batches_equals_one_concatenated_batch(tmp_path: Path) -> None:
    a, b = classifier_batches(n=2, batch_size=3)[0], classifier_batches(n=2, batch_size=5, seed=1)[1]  # unequal sizes
    both = {k: torch.cat([a[k], b[k]]) for k in a}
    accumulated = classifier_trainer(tmp_path / "acc", batches=[a, b], accumulate=2, max_steps=1)
    single = classifier_trainer(tmp_path / "one", batches=[both], accumulate=1, max_steps=1)
    accumulated.fit()
    single.fit()
    for p, q in zip(accumulated.params, single.params):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)
    assert read_metrics(tmp_path / "acc")[0]["loss"] == pytest.approx(read_metrics(tmp_path / "one")[0]["loss"], abs=1e-6)


@pytest.mark.parametrize("mode, sign", [("min", 1.0), ("max", -1.0)])
def test_early_stopping_after_patience(tmp_path: Path, mode: str, sign: float) -> None:
    values = iter(sign * v for v in [1.0, 0.8, 0.9, 0.85, 0.7, 0.6])  # best at eval 2, then 2 bad evals
    result = classifier_trainer(
        tmp_path, evaluate=lambda m: {"loss": next(values)}, eval_every=1, max_steps=50, monitor_mode=mode,
        early_stopping={"metric": "loss", "mode": mode, "patience": 2},
    ).fit()
    assert (result.stop_reason, result.step) == ("early_stopping", 4)
    assert result.best_step == 2 and load_checkpoint(tmp_path / "best").step == 2


def test_plateau_schedule_follows_the_eval_metric(tmp_path: Path) -> None:
    rec = Recorder()
    classifier_trainer(tmp_path, evaluate=lambda m: {"loss": 1.0}, callbacks=[rec], eval_every=1, max_steps=6,
                       schedule={"name": "plateau", "factor": 0.5, "patience": 1}).fit()
    # eval 1 sets the best; evals 2 and 3 do not improve -> after eval 3 (bad > patience) the lr
    # halves and the count restarts, so it halves again after eval 5
    assert [s["lr"] for s in rec.of("step")] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025])


def test_time_budget_stops_cleanly_with_a_final_checkpoint(tmp_path: Path) -> None:
    result = classifier_trainer(tmp_path, max_steps=1000, max_minutes=1e-9).fit()
    assert (result.stop_reason, result.step) == ("max_minutes", 1)
    assert load_checkpoint(tmp_path / "step-000001").step == 1


def test_max_epochs(tmp_path: Path) -> None:
    result = classifier_trainer(tmp_path, max_steps=None, max_epochs=2, accumulate=4).fit()  # 6 batches: 2 steps/epoch
    assert (result.stop_reason, result.step, result.epoch) == ("max_epochs", 4, 2)


def test_empty_training_data_is_an_error_not_a_hang(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="yielded no batches in epoch 0"):
        classifier_trainer(tmp_path, batches=[]).fit()


def test_metrics_jsonl_records(tmp_path: Path) -> None:
    torch.manual_seed(0)
    Trainer(TinyLM(), lm_config(max_steps=8, log_every=2, eval_every=4), TokenStream(seed=1), tmp_path,
            evaluate=lm_evaluator(TokenStream(n_tokens=120, seed=2)), progress=False).fit()
    records = read_metrics(tmp_path)
    train = [r for r in records if r["split"] == "train"]
    valid = [r for r in records if r["split"] == "valid"]
    assert [r["step"] for r in train] == [2, 4, 6, 8] and [r["step"] for r in valid] == [4, 8]
    for r in train:
        assert {"epoch", "time", "timestamp", "loss", "ppl", "bpc", "lr", "grad_norm", "items_per_sec",
                "grad_norm/embed", "grad_norm/rnn.l0", "grad_norm/decoder"} <= r.keys()
        assert r["ppl"] == pytest.approx(math.exp(r["loss"]))
        assert r["bpc"] == pytest.approx(r["loss"] / math.log(2), rel=1e-5)
        # the per-layer norms make up the global one (tied weights counted once)
        layers = [v for k, v in r.items() if k.startswith("grad_norm/")]
        assert math.sqrt(sum(v * v for v in layers)) == pytest.approx(r["grad_norm"], rel=1e-4)
    for r in valid:
        assert r["ppl"] == pytest.approx(math.exp(r["loss"])) and "bpc" in r
    times = [r["time"] for r in records]
    assert times == sorted(times)
    assert (tmp_path / "train_config.yaml").exists()


def test_callback_events(tmp_path: Path) -> None:
    rec = Recorder()
    classifier_trainer(tmp_path, evaluate=lambda m: {"loss": 1.0, "accuracy": 0.5}, callbacks=[rec], eval_every=2, log_every=2).fit()
    kinds = [k for k, _ in rec.events]
    assert kinds[0] == "fit_start" and kinds[-1] == "fit_end"
    assert [s["step"] for s in rec.of("step")] == [1, 2, 3, 4]
    assert len(rec.of("eval")) == 2 and rec.of("eval")[0]["ppl"] == pytest.approx(math.e)
    assert all(p.is_dir() for p in rec.of("checkpoint"))
    assert [r["split"] for r in rec.of("log")] == ["train", "valid", "train", "valid"]


class StateProbe(nn.Module):
    """Records whether each step received a carried state."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.got_state: list[bool] = []

    def step(self, batch: Any, state: Any = None) -> StepOutput:
        self.got_state.append(state is not None)
        return StepOutput(loss=(self.w * batch["x"]).pow(2).mean(), count=1, state=(torch.ones(1), torch.zeros(1)))


def test_state_is_carried_and_reset(tmp_path: Path) -> None:
    batches = [{"x": torch.ones(2), "reset": r} for r in (False, False, True, False)]
    model = StateProbe()
    Trainer(model, config(max_epochs=2, max_steps=None), ListBatches(batches, shuffle=False), tmp_path, progress=False).fit()
    assert model.got_state == [False, True, False, True] * 2  # epoch start and reset=True start afresh


def test_a_rank_of_several_needs_a_process_group(tmp_path: Path) -> None:
    # Only rank 0 writes: see tests/train/test_distributed.py, where 2 ranks train into one run directory.
    with pytest.raises(ConfigError, match="WORLD_SIZE=2 but no process group"):
        Trainer(TinyClassifier(), config(), ListBatches(classifier_batches()), tmp_path, progress=False,
                dist=DistInfo(rank=1, world_size=2))
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_bf16_autocast_on_cpu(tmp_path: Path) -> None:
    trainer = classifier_trainer(tmp_path, precision="bf16", max_steps=2)
    trainer.fit()
    assert all(math.isfinite(r["loss"]) for r in read_metrics(tmp_path))


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="never ends"):
        TrainConfig()
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="fp16 needs a CUDA"):
            classifier_trainer(tmp_path, precision="fp16")
    with pytest.raises(ConfigError, match="plateau needs an evaluate"):
        classifier_trainer(tmp_path, schedule={"name": "plateau"})
    with pytest.raises(ConfigError, match=r"monitor is 'bpc', but evaluate\(\) returned only: loss, ppl"):
        classifier_trainer(tmp_path, evaluate=lambda m: {"loss": 1.0}, monitor="bpc", eval_every=1).fit()


def test_time_budget_cosine_ends_at_the_sooner_of_the_time_budget_and_the_step_count() -> None:
    from types import SimpleNamespace

    from textseq.train.callbacks import TimeBudgetCosine

    class FakeTrainer:
        def __init__(self, total: int) -> None:
            self.step, self.clock, self.elapsed_before = 0, 0.0, 0.0
            self.schedule = SimpleNamespace(total_steps=total)

        def run_seconds(self) -> float:
            return self.clock

    for planned, expected in ((500, 100), (80, 80), (TimeBudgetCosine.PROVISIONAL_STEPS, 100)):
        trainer, budget = FakeTrainer(planned), TimeBudgetCosine(minutes=1.0)
        budget.on_fit_start(trainer)
        trainer.clock = 6.0  # 10 steps took 6 s: 100 fit into the 60 s budget
        budget.on_step_end(trainer, 10, {})
        assert trainer.schedule.total_steps == expected

    # Resumed at step 50 after 30 s of training: the other 30 s at 10 steps per 6 s end at step 100,
    # the same curve an uninterrupted run follows.
    trainer, budget = FakeTrainer(TimeBudgetCosine.PROVISIONAL_STEPS), TimeBudgetCosine(minutes=1.0)
    trainer.step, trainer.elapsed_before = 50, 30.0
    budget.on_fit_start(trainer)
    trainer.clock = 6.0
    budget.on_step_end(trainer, 60, {})
    assert trainer.schedule.total_steps == 100

    base = TrainConfig(max_minutes=2.0, max_steps=None, schedule={"name": "cosine"})
    sized, callbacks = TimeBudgetCosine.install(base)
    assert sized.schedule.total_steps == TimeBudgetCosine.PROVISIONAL_STEPS and len(callbacks) == 1
    by_epochs, callbacks = TimeBudgetCosine.install(base.model_copy(update={"max_epochs": 3}))
    assert by_epochs.schedule.total_steps is None and len(callbacks) == 1  # the Trainer sizes it from the epochs
    assert TimeBudgetCosine.install(base.model_copy(update={"max_minutes": None})) == (base.model_copy(update={"max_minutes": None}), [])


def test_max_minutes_counts_the_time_spent_before_a_resume(tmp_path):
    trainer = classifier_trainer(tmp_path, max_steps=1000, max_minutes=1.0)
    trainer.elapsed_before = 60.0  # as a resumed run that had trained a full minute already
    result = trainer.fit()
    assert (result.stop_reason, result.step) == ("max_minutes", 1)
