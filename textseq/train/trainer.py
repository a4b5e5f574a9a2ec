"""One generic trainer for every model that computes its own loss (the minGPT idea).

One optimizer step, with truncated BPTT and gradient accumulation:

    for each of `accumulate` micro-batches:          state: h ──► h' ──► h'' ... (detached at each arrow)
        out = model.step(batch, state)               loss is a mean over out.count items
        (out.loss * out.count).backward()            so gradients add up as a *sum* over items
        state = detach_state(out.state)              the next window starts from h' but not its graph
    grads /= total count                             = gradient of the mean over every item, however
                                                       the items were split into micro-batches
    clip global norm -> optimizer step -> lr for the next step

State is carried through a whole epoch in data order and reset at epoch start or when a batch has
`reset` true. Evaluation runs with the RNGs saved and restored around it, so whether and when a
run evaluates never changes its training randomness; that, together with the data position, the
RNG states and the carried state in every checkpoint, makes a resumed run repeat an uninterrupted
one step for step.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from textseq.config import dump_config
from textseq.errors import ConfigError, InputError, TextseqError
from textseq.log import progress_enabled
from textseq.train import checkpoint as ckpt
from textseq.train.callbacks import Callback
from textseq.train.config import TrainConfig
from textseq.train.device import DistInfo, autocast_context, check_precision, dist_info, resolve_device
from textseq.train.diagnostics import grad_norms_by_layer
from textseq.train.distributed import cpu_tree, make_sync
from textseq.train.divergence import DivergenceGuard, diverged_error
from textseq.train.metrics import MetricsLogger, RunningMeans, perplexity
from textseq.train.monitor import Improvement
from textseq.train.optim import LRSchedule, build_optimizer
from textseq.train.protocol import Batches, batch_reset, batch_to, detach_state
from textseq.train.serialize import capture_rng, restore_rng, seed_everything
from textseq.train.trainer_state import restore_trainer_state, trainer_state

log = logging.getLogger(__name__)

Evaluate = Callable[[nn.Module], dict[str, float]]


@dataclass
class FitResult:
    """How a fit() call ended."""

    step: int
    epoch: int
    stop_reason: str  # max_steps | max_epochs | max_minutes | early_stopping | a callback's reason
    best: float | None
    best_step: int | None
    last_checkpoint: Path | None
    last_eval: dict[str, float] | None
    items_per_sec: list[float] = field(default_factory=list)  # each rank's training throughput (one per process)


class Trainer:
    """Trains `model` (which has `step(batch, state) -> StepOutput`) on `train_data` into `run_dir`."""

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        train_data: Batches,
        run_dir: str | Path,
        evaluate: Evaluate | None = None,
        callbacks: Sequence[Callback] = (),
        extra_checkpoint_json: dict[str, Any] | None = None,
        progress: bool | None = None,
        dist: DistInfo | None = None,
        param_groups: list[dict[str, Any]] | None = None,
    ) -> None:
        if not hasattr(model, "step"):
            raise ConfigError(f"{type(model).__name__} has no step(batch, state) method; see textseq.train.protocol")
        self.cfg = config
        self.dist = dist or dist_info()
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        self.device = resolve_device(config.device)
        check_precision(self.device, config.precision)
        self.model = model.to(self.device)
        self.sync = make_sync(self.dist)  # one process: collectives that hand their input back
        self._forward = self.sync.wrap(self.model, self.device)  # model.step, or through DistributedDataParallel
        self.train_data, self.run_dir = train_data, Path(run_dir)
        self.evaluate = evaluate
        self.callbacks = list(callbacks)
        self.extra = dict(extra_checkpoint_json or {})
        self.progress = progress_enabled(progress) and self.dist.is_main
        self.optimizer = build_optimizer(self.model, config.optimizer, param_groups)
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.schedule = LRSchedule(config.schedule, [g["lr"] for g in self.optimizer.param_groups], self._total_steps())
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.precision == "fp16")
        if config.schedule.name == "plateau" and evaluate is None:
            raise ConfigError("schedule.name=plateau needs an evaluate callable (it follows an eval metric)")
        if config.early_stopping is not None and evaluate is None:
            raise ConfigError("early_stopping needs an evaluate callable")
        # Progress, all of it saved in trainer.json.
        self.step = 0  # optimizer steps done
        self.epoch = 0  # 0-based epoch being trained
        self.mid_epoch = False  # True once set_epoch(epoch) was called and batches were drawn
        self.state: Any = None  # recurrent state carried into the next window
        self.elapsed_before = 0.0  # training seconds of earlier invocations (for resumed runs)
        self.best = Improvement(config.monitor_mode)
        es = config.early_stopping
        self.early = Improvement(es.mode, es.min_delta) if es else None
        self.guard = DivergenceGuard(config.divergence) if config.divergence is not None else None
        # This invocation only.
        self.stop_reason: str | None = None
        self.last_checkpoint: Path | None = None
        self.last_eval: dict[str, float] | None = None
        self._saved_step = self._evaluated_step = -1
        self._new_best = False
        self._resume_rng: dict[str, Any] | None = None
        self._resumed = False
        self._interval = RunningMeans()
        self._logger: MetricsLogger | None = None
        # Several ranks: a stop asked for on this rank until all agree on it; every rank's RNG and data position.
        self._requested, self._rank_states = None, None

    # ---------------------------------------------------------------- public API

    def request_stop(self, reason: str) -> None:
        """End the run after the current step (callbacks use this); several ranks stop at the next check they share."""
        if self.sync.active:
            self._requested = self._requested or reason
        else:
            self.stop_reason = self.stop_reason or reason

    def resume(self, path: str | Path | None = None) -> Path:
        """Load the newest good checkpoint of run dir `path` (default: this run_dir), or checkpoint dir `path`."""
        src = Path(path) if path is not None else self.run_dir
        if (src / ckpt.TRAINER_JSON).exists():
            chosen = src
        else:
            if self.dist.is_main:
                ckpt.clean_stale(src)
            chosen, problems = ckpt.find_resumable(src)
            for problem in problems:
                log.warning(f"skipping a damaged checkpoint: {problem}")
        loaded = ckpt.load_checkpoint(chosen, self.model, self.optimizer, self.device)
        self.state = restore_trainer_state(self, loaded.trainer, loaded.carried_state, chosen)
        self.last_checkpoint, self._saved_step = chosen, self.step
        self._resumed = True
        return chosen

    def fit(self) -> FitResult:
        """Train until a limit (max_steps/epochs/minutes), early stopping, or request_stop."""
        self._start()
        self._bar = bar = tqdm(total=self.cfg.max_steps, initial=self.step, disable=not self.progress, desc="train", dynamic_ncols=True)
        try:
            self._emit("on_fit_start")
            self._check_limits(budget=False)  # a resumed run may already be done; time only counts after a step
            while self.stop_reason is None:
                self._run_epoch()
            self._finish()
            rates = self.sync.gather(self._items / max(self.run_seconds() - self._paused, 1e-9))
        finally:
            bar.close()
            if self._logger is not None:
                self._logger.close()
        self._emit("on_fit_end")
        return FitResult(self.step, self.epoch, self.stop_reason or "", self.best.best, self.best.best_step,
                         self.last_checkpoint, self.last_eval, rates)

    # ---------------------------------------------------------------- the loop

    def _start(self) -> None:
        main = self.dist.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            ckpt.clean_stale(self.run_dir)
        if not self._resumed:
            if ckpt.list_checkpoints(self.run_dir):
                raise TextseqError(f"{self.run_dir} already holds checkpoints; resume it or choose a new run directory")
            seed_everything(self.cfg.seed + self.dist.rank)  # rank 0 as one process; other ranks draw other dropout masks
        if main:
            dump_config(self.cfg, self.run_dir / "train_config.yaml")
        self._logger = MetricsLogger(self.run_dir, enabled=main, tensorboard=self.cfg.tensorboard)
        self._logger.truncate_after(self.step)  # records a killed run wrote after its checkpoint
        if self._resume_rng is not None:
            restore_rng(self._resume_rng)
            self._resume_rng = None
        self.stop_reason = self._requested = None  # fit() may be called again, e.g. after raising max_steps
        self._items, self._paused = 0, 0.0  # this invocation's items trained and seconds spent evaluating/saving
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        self._t0 = time.monotonic()
        self._interval.reset()
        self._pending_count = 0  # items in the micro-batches of the step being accumulated
        self._step_loss_sum = 0.0

    def _run_epoch(self) -> None:
        fresh = not self.mid_epoch  # False when resuming mid-epoch: the data continues where it stood
        if fresh:
            self.train_data.set_epoch(self.epoch)
            self.state, self.mid_epoch = None, True
        pending = drawn = 0
        for batch in self.train_data:
            self._micro_step(batch, last=pending + 1 == self.cfg.accumulate)
            pending, drawn = pending + 1, drawn + 1
            if pending == self.cfg.accumulate:
                pending = 0
                self._optimizer_step()
                if self.stop_reason is not None:
                    return
        if fresh and drawn == 0:
            raise InputError(f"{type(self.train_data).__name__} yielded no batches in epoch {self.epoch}")
        if pending:  # a short last group: the count-weighted sum keeps its gradient unbiased
            self.sync.average_grads(self.params)  # its micro-batches all ran under no_sync
            self._optimizer_step()
        self.epoch, self.mid_epoch = self.epoch + 1, False
        self._check_limits()

    def _micro_step(self, batch: Any, last: bool = True) -> None:
        if batch_reset(batch):
            self.state = None
        batch = batch_to(batch, self.device)
        with self.sync.no_sync(last):  # several ranks: gradients are averaged in the last micro-batch's backward
            with autocast_context(self.device, self.cfg.precision):
                out = self._forward(batch, self.state)
            loss_value = float(out.loss.detach())
            if not math.isfinite(loss_value) and not self.sync.active:  # several ranks: the shared grad norm says so
                raise self._diverged(f"loss became {loss_value}")
            weighted = out.loss.float() * out.count
            if self.scaler.is_enabled():
                weighted = self.scaler.scale(weighted)
            weighted.backward()
        self.state = detach_state(out.state)  # truncated BPTT: keep the value, cut the graph
        self._pending_count += int(out.count)
        self._interval.add(loss_value, int(out.count), out.metrics)
        self._step_loss_sum += loss_value * out.count

    def _optimizer_step(self) -> None:
        cfg = self.cfg
        self.schedule.apply(self.optimizer, self.step)
        if self.scaler.is_enabled():
            self.scaler.unscale_(self.optimizer)
        self._items += self._pending_count
        self.sync.finish_grads()  # several ranks: the embedding rows DDP left out (textseq.train.rowsync)
        count, loss_sum = self.sync.totals(self._pending_count, self._step_loss_sum)  # over all ranks
        inv = self.dist.world_size / max(count, 1)  # DDP averaged over the ranks: undo that, divide by all items
        for p in self.params:
            if p.grad is not None:
                p.grad.mul_(inv)
        log_now = (self.step + 1) % cfg.log_every == 0
        layer_norms = grad_norms_by_layer(self.model) if log_now else {}  # before clipping: what the model produced
        max_norm = cfg.clip_norm if cfg.clip_norm is not None else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, max_norm))
        if not math.isfinite(grad_norm) and not self.scaler.is_enabled():  # fp16 skips such steps itself
            raise self._diverged(f"gradient norm became {grad_norm}")
        if self.scaler.is_enabled():
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._step_loss_sum, self._pending_count = 0.0, 0
        self.step += 1
        lr = self.optimizer.param_groups[0]["lr"]
        logs = {"loss": loss_sum / max(count, 1), "count": count, "lr": lr, "grad_norm": grad_norm}
        verdict = self.guard.update(self.step, logs["loss"], grad_norm) if self.guard is not None else None
        if verdict is not None:
            raise self._diverged(verdict.reason, verdict.onset)
        self._bar.update(1)
        self._emit("on_step_end", self.step, logs)
        if log_now:
            record = {**self.sync.means(self._interval), "lr": lr, "grad_norm": grad_norm}
            record.update({f"grad_norm/{k}": v for k, v in layer_norms.items()})
            self._log("train", record)
            self._bar.set_postfix(loss=f"{record['loss']:.4f}", refresh=False)
            self._interval.reset()
        paused = time.perf_counter()
        if self.evaluate is not None and self.step % cfg.eval_every == 0:
            self._evaluate(final=False)
        if self.guard is not None and self.guard.in_streak:
            self._new_best = False  # no checkpoint while gradients explode: the last one must predate it
        elif self.step % cfg.checkpoint_interval == 0 or self._new_best:
            self._save()
        self._paused += time.perf_counter() - paused  # items/sec measures training alone
        self._interval.exclude(time.perf_counter() - paused)
        self._check_limits()

    def run_seconds(self) -> float:
        """Seconds this fit() has trained, the clock train.max_minutes is checked against."""
        return time.monotonic() - self._t0

    def trained_seconds(self) -> float:
        """Training seconds of the whole run, earlier invocations included: what train.max_minutes
        limits, so a resumed run trains only for what is left of its budget."""
        return self.elapsed_before + self.run_seconds()

    def exclude_time(self, seconds: float) -> None:
        """Leave `seconds` of a callback's own work (e.g. an extra evaluation) out of the time budget,
        the logged `time` and items/second, as the trainer does for its own evaluations."""
        self._t0 += seconds
        self._interval.exclude(seconds)

    def _check_limits(self, budget: bool = True) -> None:
        cfg = self.cfg
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            self.request_stop("max_steps")
        elif cfg.max_epochs is not None and self.epoch >= cfg.max_epochs:
            self.request_stop("max_epochs")
        elif budget and cfg.max_minutes is not None and self.dist.is_main and self.trained_seconds() / 60 >= cfg.max_minutes:
            self.request_stop("max_minutes")  # rank 0's clock decides for every rank
        if self.sync.active:
            self.stop_reason = self.stop_reason or self.sync.agree(self._requested, self.schedule)

    def _finish(self) -> None:
        # A final evaluation feeds best/ but not early stopping or the plateau rule: an interrupted
        # and resumed run must take the same decisions as an uninterrupted one.
        # An interrupted run saves at once: the user is waiting, and the resumed run evaluates anyway.
        interrupted = self.stop_reason == "interrupted"
        if self.evaluate is not None and self._evaluated_step != self.step and self.step > 0 and not interrupted:
            self._evaluate(final=True)
        if (self._saved_step != self.step or self._new_best) and self.step > 0:
            self._save()

    # ---------------------------------------------------------------- evaluation, logging, saving

    def _evaluate(self, final: bool) -> None:
        rng = capture_rng()
        self.model.eval()
        try:
            with torch.no_grad(), autocast_context(self.device, self.cfg.precision):
                metrics = {k: float(v) for k, v in self.evaluate(self.model).items()}  # type: ignore[misc]
            metrics = self.sync.from_main(metrics)  # every rank evaluated the whole set; rank 0's numbers decide
        finally:
            self.model.train()
            restore_rng(rng)
        if "loss" in metrics and "ppl" not in metrics:
            metrics["ppl"] = perplexity(metrics["loss"])
        self._evaluated_step, self.last_eval = self.step, metrics
        self._log("valid", dict(metrics))
        value = _metric(metrics, self.cfg.monitor, "monitor")
        self._new_best = self.best.update(value, self.step) or self._new_best
        if not final:
            self.schedule.on_eval(value, self.cfg.monitor_mode)
            es = self.cfg.early_stopping
            if es is not None and self.early is not None:
                self.early.update(_metric(metrics, es.metric, "early_stopping.metric"), self.step)
                if self.early.bad >= es.patience:
                    self.request_stop("early_stopping")
        self._emit("on_eval_end", metrics)

    def _log(self, split: str, values: dict[str, Any]) -> None:
        elapsed = self.trained_seconds()
        record = {"split": split, "step": self.step, "epoch": self.epoch, "time": round(elapsed, 3),
                  "timestamp": round(time.time(), 3), **values}
        assert self._logger is not None
        self._logger.log(record)
        self._emit("on_log", record)

    def _save(self) -> None:
        is_best, self._new_best = self._new_best, False
        carried = self.state
        if self.sync.active:  # every rank's carried state, RNG states and data position, for an exact resume
            ranks = self.sync.gather({"state": cpu_tree(self.state), "rng": capture_rng(), "data": self.train_data.state_dict()})
            carried, self._rank_states = [r.pop("state") for r in ranks], ranks
        if not self.dist.is_main:  # rank 0 writes it
            self.last_checkpoint, self._saved_step = self.run_dir / ckpt.step_dir_name(self.step), self.step
            return
        path = ckpt.save_checkpoint(self.run_dir, self.step, model=self.model, optimizer=self.optimizer,
                                    carried_state=carried, trainer_state=trainer_state(self), extra=self.extra,
                                    keep_last=self.cfg.keep_last, is_best=is_best)
        self.last_checkpoint, self._saved_step = path, self.step
        self._emit("on_checkpoint", path)

    def _diverged(self, what: str, onset: int | None = None) -> TextseqError:
        return diverged_error(what, self.step, self.epoch, self.last_checkpoint, onset)

    def _emit(self, event: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(self, *args)

    def _total_steps(self) -> int | None:
        if self.cfg.max_steps is not None:
            return self.cfg.max_steps
        if self.cfg.max_epochs is not None and hasattr(self.train_data, "__len__"):
            return math.ceil(len(self.train_data) / self.cfg.accumulate) * self.cfg.max_epochs  # type: ignore[arg-type]
        return None


def _metric(metrics: dict[str, float], name: str, option: str) -> float:
    if name not in metrics:
        raise ConfigError(f"train.{option} is {name!r}, but evaluate() returned only: {', '.join(sorted(metrics))}")
    return metrics[name]
