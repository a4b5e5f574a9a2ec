"""The one job runner: every training task (language model, classifier, ...) runs through `run_job`.

    run_job(task, config, run_dir, resume)
      config     <- task.load_config(path or preset, --set overrides)      unless already a config object
      run_dir    <- open_run_dir: run.json + config.yaml, resume checks
      threads, seed
      data       <- task.prepare(config, run_dir)                         codec/vocab + encoded splits
      seed again <- the model's initialisation is part of the run
      built      <- task.build(config, data): model, batches, evaluator, checkpoint extra, callbacks
      Trainer(...).fit()                                                 the task-agnostic engine
      report     <- task.report(config, data, model, fit)                -> RUN_DIR/report.json

A task supplies the hooks, the runner owns what every task shares (the Lightning split, without
its size): a capability that all tasks need (a run lock, multi-process training, Ctrl-C saving) is
written here once. `textseq.runs.load_run` is the other half: it opens any finished run.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from textseq.cliargs import device_name, non_negative_int, positive_float, positive_int
from textseq.fileio import atomic_write_text
from textseq.train.callbacks import Callback

if TYPE_CHECKING:  # the runner's heavy parts (torch, pydantic, the engine) load when a job runs, not for --help
    from pydantic import BaseModel

    from textseq.train.rundir import RunKind

log = logging.getLogger(__name__)
REPORT_FILE = "report.json"


@dataclass
class Built:
    """What a task hands the runner to train: the model and its data, and how to evaluate and save it."""

    model: Any  # an nn.Module with step(batch, state) -> StepOutput
    batches: Any  # textseq.train.protocol.Batches
    evaluate: Callable[[Any], dict[str, float]] | None  # the Trainer's periodic validation
    extra: dict[str, Any]  # written into every checkpoint's extra.json: enough to rebuild model and codec
    summary: str  # one line describing the model, logged at the start
    callbacks: list[Callback] = field(default_factory=list)
    param_groups: list[dict[str, Any]] | None = None


@dataclass
class Loaded:
    """What a task rebuilds from one checkpoint: the model and its text-to-ids codec."""

    model: Any
    codec: Any
    labels: list[str] | None = None  # class names, for classifiers


class Task(Protocol):
    """A training job's hooks. `kind` names the task in run.json and says what a resume may change."""

    kind: RunKind
    config_model: type[BaseModel]  # the job config's pydantic model
    valid_metrics: tuple[str, ...]  # the validation numbers shown in the one-line progress report

    def load_config(self, source: Any, overrides: Sequence[str] = ()) -> BaseModel:
        """The job config from a YAML path or preset name, with dotted --set overrides applied."""

    def prepare(self, config: Any, run_dir: Path) -> Any:
        """Build (or reuse) the codec/vocabulary and the encoded splits in `run_dir`."""

    def build(self, config: Any, data: Any, run_dir: Path) -> Built:
        """The model (just seeded by the runner), training batches, evaluator and checkpoint extra."""

    def report(self, config: Any, data: Any, model: Any, fit: Any, run_dir: Path) -> dict[str, Any]:
        """Final figures of the trained model (and any files of the task's own, e.g. a sample)."""

    def load(self, extra: dict[str, Any], path: Path, device: str) -> Loaded:
        """Rebuild the model and codec from a checkpoint's extra.json (see textseq.runs.load_run)."""


@dataclass
class JobResult:
    """How a job ended: the Trainer's result and the task's final report (also in RUN_DIR/report.json)."""

    run_dir: Path
    fit: Any  # textseq.train.trainer.FitResult
    report: dict[str, Any]


class ValidLine(Callback):
    """One log line per evaluation, so a run without a progress bar still shows how it goes, with the
    time left when a budget (max_minutes, max_steps, max_epochs) is set."""

    def __init__(self, metrics: Sequence[str]) -> None:
        self.metrics = tuple(metrics)
        self.step0 = 0

    def on_fit_start(self, trainer: Any) -> None:
        self.step0 = trainer.step

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        if record.get("split") != "valid":
            return
        values = " | ".join(f"{k} {record[k]:.4f}" for k in self.metrics if isinstance(record.get(k), (int, float)))
        left = seconds_left(trainer, self.step0)
        eta = "" if left is None else f" | about {left:.0f} s left" if left < 90 else f" | about {left / 60:.1f} min left"
        log.info(f"step {record['step']:>6} | epoch {record['epoch']} | {record['time'] / 60:5.1f} min | valid {values}{eta}")


def seconds_left(trainer: Any, step0: int) -> float | None:
    """Seconds until the first budget ends the run, at this invocation's pace; None without a budget."""
    cfg, elapsed = trainer.cfg, trainer.run_seconds()  # this invocation's pace
    left = []
    if cfg.max_minutes is not None:  # the budget counts the whole run, earlier invocations too
        left.append(cfg.max_minutes * 60 - trainer.trained_seconds())
    total = cfg.max_steps
    if cfg.max_epochs is not None and hasattr(trainer.train_data, "__len__"):
        by_epochs = cfg.max_epochs * -(-len(trainer.train_data) // cfg.accumulate)
        total = by_epochs if total is None else min(total, by_epochs)
    if total is not None and trainer.step > step0 and elapsed > 0:
        left.append((total - trainer.step) * elapsed / (trainer.step - step0))
    return max(0.0, min(left)) if left else None


def run_job(task: Task, config: Any, run_dir: str | Path, resume: bool = False, overrides: Sequence[str] = (),
            progress: bool | None = None, callbacks: Sequence[Callback] = (), force: bool = False) -> JobResult:
    """Train (or resume) `task` with `config` (a config object, YAML path or preset name) into `run_dir`;
    `force` starts over a run that has checkpoints, or trains into a non-empty directory that is no run."""
    import contextlib

    import torch.distributed

    from textseq.train import distributed
    from textseq.train.checkpoint import list_checkpoints
    from textseq.train.rundir import RunLock, check_run_dir, open_run_dir

    check_run_dir(run_dir, resume, force)  # before the lock file is created in it
    from pydantic import BaseModel

    if not isinstance(config, BaseModel):
        config = task.load_config(config, overrides)
    joined = not torch.distributed.is_initialized()
    info = distributed.start(config.train.device)  # type: ignore[attr-defined]  # several processes: join them
    joined = joined and torch.distributed.is_initialized()
    try:
        # one writer per run directory (rank 0), before anything in it is touched
        with RunLock(run_dir) if info.is_main else contextlib.nullcontext():
            opened = go_on = None
            if info.is_main:
                opened = open_run_dir(run_dir, config, task.kind, resume, task.load_config, force=force)
                # a --resume of a run stopped before its first checkpoint trains it from the start (open_run_dir said so)
                go_on = resume and bool(list_checkpoints(opened))
            opened, go_on = distributed.broadcast(info, (opened, go_on))
            return _run_locked(task, config, opened, bool(go_on), progress, callbacks, info)
    except Exception as err:
        if info.world_size > 1 and distributed.is_collective_error(err):
            distributed.abort(distributed.lost_rank(info, err))  # no return: see abort()
        raise
    finally:
        if joined:
            distributed.stop()


def _run_locked(task: Task, config: Any, run_dir: Path, resume: bool, progress: bool | None,
                callbacks: Sequence[Callback], info: Any) -> JobResult:
    from importlib.util import find_spec

    from textseq.train import distributed
    from textseq.train.callbacks import TimeBudgetCosine
    from textseq.train.serialize import seed_everything
    from textseq.train.trainer import Trainer

    # train.num_threads and train.device take effect in the Trainer, after the model is built: the
    # orthogonal init's QR runs on torch's default threads, so the initial weights stay the same
    # bits as in every run recorded in benchmarks/RESULTS.md.
    train_cfg = config.train  # type: ignore[attr-defined]
    seed_everything(config.seed)  # type: ignore[attr-defined]
    with distributed.main_first(info):  # rank 0 writes the prepared data, the other ranks then read it
        data = task.prepare(config, run_dir)
    seed_everything(config.seed)  # type: ignore[attr-defined]  # the model's init is part of the run
    solve = getattr(task, "solve", None)
    if solve is not None:  # a closed-form fit (a scikit-learn linear model): no optimizer steps, no Trainer
        report = {"task": task.kind.task, **solve(config, data, run_dir)}
        atomic_write_text(run_dir / REPORT_FILE, json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        return JobResult(run_dir, None, report)
    built = task.build(config, data, run_dir)
    distributed.shard_batches(built.batches, info)  # several processes: each trains its share of every step
    if info.world_size > 1:
        log.info(f"{info.world_size} processes ({distributed.backend_for(distributed.resolve_device(train_cfg.device))}): "
                 f"each trains its own share of every step, so a step covers {info.world_size} times the batch above")
    log.info(built.summary)
    log.info(f"writing to {run_dir}: metrics.jsonl, checkpoints (step-*/, best/), report.json"
             + (", tensorboard/" if train_cfg.tensorboard and find_spec("tensorboard") else "")
             + f"; `textseq plot {run_dir}` draws the curves")
    train_cfg, schedule_budget = TimeBudgetCosine.install(train_cfg)  # a run stopped by max_minutes still anneals
    trainer = Trainer(built.model, train_cfg, built.batches, run_dir, evaluate=built.evaluate,
                      callbacks=[ValidLine(task.valid_metrics), *schedule_budget, *built.callbacks, *callbacks],
                      extra_checkpoint_json=built.extra, progress=progress, param_groups=built.param_groups, dist=info)
    if resume:
        chosen = trainer.resume()
        spent = trainer.elapsed_before / 60
        budget = f" of {train_cfg.max_minutes:g}" if train_cfg.max_minutes is not None else ""
        log.info(f"resumed from {chosen.name} (step {trainer.step}, epoch {trainer.epoch}); {spent:.1f}{budget} min of "
                 "training already spent, the learning-rate schedule continues from that step")
    with StopOnSignal(trainer) as stop:
        fit = trainer.fit()
    if stop.signum is not None:
        _interrupted(task, run_dir, fit, stop.signum)
    if not info.is_main:  # rank 0 reports (and writes what the task writes with it)
        return JobResult(run_dir, fit, {})
    report = task.report(config, data, trainer.model, fit, run_dir)
    summary = {"task": task.kind.task, "step": fit.step, "epoch": fit.epoch, "stop_reason": fit.stop_reason,
               "best": fit.best, "best_step": fit.best_step, **report}
    if info.world_size > 1:
        summary["distributed"] = {"world_size": info.world_size, "backend": distributed.backend_for(trainer.device),
                                  "items_per_sec_per_rank": [round(r, 1) for r in fit.items_per_sec]}
    atomic_write_text(run_dir / REPORT_FILE, json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    log.info(f"stopped after step {fit.step} ({fit.stop_reason}); run directory: {run_dir}")
    return JobResult(run_dir, fit, report)


# Flags for the settings everyone changes: flag -> (config key, argparse type, help).
SHORTCUTS: dict[str, tuple[str, Callable[[str], Any], str, str]] = {
    "--max-minutes": ("train.max_minutes", positive_float, "MINUTES", "training time budget"),
    "--max-steps": ("train.max_steps", positive_int, "STEPS", "optimizer steps in total"),
    "--epochs": ("train.max_epochs", positive_int, "EPOCHS", "passes over the training data"),
    "--seed": ("seed", non_negative_int, "SEED", "seed of the model's init, data order and dropout"),
    "--device": ("train.device", device_name, "DEVICE", "auto, cpu, cuda or mps"),
    "--threads": ("train.num_threads", positive_int, "N", "torch threads"),
}


def shortcut_overrides(args: Any) -> list[str]:
    """The --set items that the shortcut flags given on the command line stand for."""
    items = []
    for flag, (key, *_) in SHORTCUTS.items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is not None:
            items.append(f"{key}={value}")
    return items


class StopOnSignal:
    """Ctrl-C (SIGINT) or SIGTERM during fit(): finish the current step, write a checkpoint, stop.
    A second signal aborts at once. Only the main thread may install handlers; elsewhere this does nothing."""

    def __init__(self, trainer: Any) -> None:
        self.trainer, self.signum, self.since = trainer, None, 0.0
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        import signal

        if self.signum is not None and self.trainer.dist.world_size > 1 and time.monotonic() - self.since < 2.0:
            return  # torchrun passes the terminal's Ctrl-C on to its workers: the same request, not a second one
        if self.signum is not None:  # the second one: no more waiting
            self.__exit__()
            raise KeyboardInterrupt if signum == signal.SIGINT else SystemExit(128 + signum)
        self.signum, self.since = signum, time.monotonic()
        log.warning(f"{signal.Signals(signum).name}: finishing step {self.trainer.step + 1} and writing a checkpoint "
                    "(press Ctrl-C again to stop at once, without one)")
        self.trainer.request_stop("interrupted")

    def __enter__(self) -> "StopOnSignal":
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        for signum, handler in self._old.items():
            signal.signal(signum, handler)
        self._old = {}


def _interrupted(task: Task, run_dir: Path, fit: Any, signum: int) -> None:
    """Say where the interrupted run stands and how to go on, then exit as the signal asks (130 / 143)."""
    import signal

    saved = f"checkpoint {fit.last_checkpoint.name} written" if fit.last_checkpoint else "no step was finished, nothing saved"
    log.warning(f"interrupted after step {fit.step}: {saved}. Continue with: {task.kind.command} -o {run_dir} --resume")
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def train_command(task_name: str, help_text: str, example_config: str, example_override: str,
                  extend_hint: str, pick_task: Callable[[Any], str] | None = None
                  ) -> tuple[str, Callable[[Any], None], Callable[[Any], int]]:
    """(HELP, add_arguments, run) of a `textseq train-*` command module (see textseq.cli); `pick_task(args)`
    may name another task by what the config asks for (train-classifier: model.kind ngram)."""

    def add_arguments(p: Any) -> None:
        p.add_argument("-c", "--config", help=f"job config: a preset name such as {example_config} or a YAML file "
                                              "(with --resume: default RUN_DIR/config.yaml)")
        p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="run directory (data, checkpoints, metrics)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help=f"override a config value, e.g. --set {example_override} (repeatable)")
        p.add_argument("--resume", action="store_true", help=f"continue from RUN_DIR's latest checkpoint ({extend_hint})")
        p.add_argument("--force", action="store_true",
                       help="start RUN_DIR over although it holds checkpoints (they are removed), or train into a "
                            "non-empty directory that holds no run")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        p.add_argument("--nproc", type=positive_int, default=None, metavar="N",
                       help="train in N processes on this machine (data-parallel; starts torchrun --standalone "
                            "--nproc_per_node N); for several machines run torchrun yourself")
        shortcuts = p.add_argument_group("shortcuts (each is the --set it names; default: the config's value)")
        for flag, (key, kind, metavar, text) in SHORTCUTS.items():
            shortcuts.add_argument(flag, type=kind, default=None, metavar=metavar, help=f"{text} (= --set {key}=...)")

    def run(args: Any) -> int:
        from textseq.errors import ConfigError
        from textseq.runs import get_task
        from textseq.train.rundir import check_run_dir

        if args.resume and args.force:
            raise ConfigError("--resume continues RUN_DIR and --force starts it over: give one of them")
        if args.config is None and not args.resume:
            raise ConfigError("give a config with -c CONFIG (only --resume can fall back to RUN_DIR/config.yaml)")
        check_run_dir(args.output, args.resume, args.force)  # before any config is read or process started
        task = get_task(pick_task(args) if pick_task is not None else task_name)
        if args.nproc is not None and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
            return launch_local(args.nproc)
        source = args.config if args.config is not None else Path(args.output) / "config.yaml"
        config = task.load_config(source, [*args.overrides, *shortcut_overrides(args)])
        run_job(task, config, args.output, resume=args.resume, progress=False if args.no_progress else None,
                force=args.force)
        return 0

    return help_text, add_arguments, run


def launch_local(nproc: int, argv: Sequence[str] | None = None) -> int:
    """Run this command again in `nproc` processes under torchrun (torch.distributed.run) on this
    machine, without --nproc; its exit status."""
    import subprocess

    args, rest = [], list(sys.argv[1:] if argv is None else argv)
    while rest:
        item = rest.pop(0)
        if item == "--nproc":
            rest.pop(0)
        elif not item.startswith("--nproc="):
            args.append(item)
    log.info(f"starting {nproc} training processes (torchrun --standalone --nproc_per_node {nproc})")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "textseq", *args]
    child = subprocess.Popen(cmd)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:  # Ctrl-C reached torchrun and its workers too: wait while they save and stop
            continue
