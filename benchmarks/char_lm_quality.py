"""Validation bits per character of the default character LSTM and GRU after N minutes of CPU training.

Each model (configs/lm/char_lstm.yaml, char_gru.yaml) is trained on the Shakespeare training split
by the real `textseq.lm.train_lm`, one model after the other (never in parallel: they would share the
cores), and scored on the FULL validation split (every character predicted once, as train_lm's
final report does). Target: 2.25 bpc or lower at 15 minutes.

Two ways to get the figure at each mark (--checkpoints, default 5,15,30 minutes):

    --separate-runs (default)  one run per mark with train.max_minutes = mark. The cosine schedule
                               spans max_minutes, so every figure comes from a fully annealed run:
                               what `textseq train-lm --set train.max_minutes=15` gives a user.
                               Costs the sum of the marks per model (5+15+30 = 50 minutes).
    --single-run               one run of --minutes per model; a callback evaluates at each mark.
                               Cheaper (30 minutes per model), but the earlier marks come from the
                               middle of a 30-minute schedule (lr still high), so they understate what
                               a run of that length reaches.

"Minutes" is the trainer's own clock (what train.max_minutes limits): training steps plus the run's
own periodic evaluations on `data.eval_tokens` characters and its checkpoints, as in any train-lm
run. The benchmark's extra full-validation evaluations (single-run mode) are left out: the clock,
the time limit and the time-budget cosine are paused while they run.

    .venv/bin/python benchmarks/char_lm_quality.py [--minutes 30] [--checkpoints 5,15,30]
        [--single-run] [--out runs/bench-char-quality] [--set train.num_threads=1] [--overwrite]

Writes RUN_DIR per run under --out and --out/results.json (rewritten after every run).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import textseq.lm.task as lm_task
from textseq.lm.config import LMJobConfig, load_job_config
from textseq.lm.prepare import prepare
from textseq.train.callbacks import Callback
from textseq.train.serialize import capture_rng, restore_rng
from common import describe, machine_info

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [ROOT / "configs" / "lm" / "char_lstm.yaml", ROOT / "configs" / "lm" / "char_gru.yaml"]
TARGET_BPC, TARGET_MINUTES = 2.25, 15.0


class MarkRecorder(Callback):
    """Counts tokens and the trainer's clock; at each mark (minutes, in single-run mode) evaluates the
    model in memory on the full validation split, with every clock paused meanwhile.

    The evaluation time is handed to `trainer.exclude_time`, so the time limit, the logged time and
    the time-budget cosine all skip it."""

    def __init__(self, config: LMJobConfig, run_dir: Path, marks: list[float], log: Callable[[str], None]) -> None:
        self.config, self.run_dir, self.log = config, run_dir, log
        self.pending = sorted(marks)
        self.records: list[dict[str, Any]] = []
        self.tokens = self.step = 0
        self.train_s = 0.0
        self.lr = float("nan")
        self._evaluator: Any = None

    def on_fit_start(self, trainer: Any) -> None:
        self.tokens = 0

    def _clock(self, trainer: Any) -> float:
        return trainer.run_seconds()  # the clock train.max_minutes is checked against

    def on_step_end(self, trainer: Any, step: int, logs: dict[str, Any]) -> None:
        self.tokens += int(logs["count"])
        self.step, self.lr, self.train_s = step, float(logs["lr"]), self._clock(trainer)
        while self.pending and self.train_s >= self.pending[0] * 60:
            mark = self.pending.pop(0)
            started = time.monotonic()
            valid = self._evaluate(trainer)
            spent = time.monotonic() - started
            trainer.exclude_time(spent)  # pause: the limit, the logged time and the cosine skip it
            self.records.append(self._record(mark, valid["bpc"], spent))
            self.log(f"  mark {mark:g} min: step {step:,}, valid bpc {valid['bpc']:.4f} (evaluated in {spent:.1f} s)")

    def _evaluate(self, trainer: Any) -> dict[str, float]:
        if self._evaluator is None:  # train_lm has encoded the splits into the run dir: reused here
            prepared = prepare(self.config.data, self.run_dir, progress=False)
            self._evaluator = lm_task.LMEvaluator(prepared, self.config.data.batch_size, self.config.data.bptt)
        rng = capture_rng()  # as Trainer._evaluate: scoring never changes the run's randomness
        try:
            with torch.no_grad():
                return self._evaluator(trainer.model)  # switches to eval() and back itself
        finally:
            restore_rng(rng)

    def _record(self, mark: float | None, bpc: float, eval_s: float | None) -> dict[str, Any]:
        return {"mark_minutes": mark, "minutes": round(self.train_s / 60, 3), "steps": self.step, "tokens": self.tokens,
                "valid_bpc": bpc, "lr": self.lr, "eval_seconds": eval_s}


def train_one(config_path: Path, minutes: float, marks: list[float], run_dir: Path, overrides: list[str],
              log: Callable[[str], None]) -> list[dict[str, Any]]:
    """One train_lm run of `minutes`, evaluated at `marks` (< minutes) and at its end."""
    config = load_job_config(config_path, [*overrides, f"train.max_minutes={minutes}", "sample.length=0"])
    recorder = MarkRecorder(config, run_dir, marks, log)
    result = lm_task.train_lm(config, run_dir, progress=False, callbacks=[recorder])
    # The end of the run: train_lm's own full-validation figure (the same evaluator as the marks).
    final = recorder._record(minutes, result.valid["bpc"], None)
    final["stop_reason"] = result.fit.stop_reason
    return [*recorder.records, final]


def parse_marks(text: str) -> list[float]:
    try:
        marks = sorted({float(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise SystemExit(f"--checkpoints must be minutes separated by commas, got {text!r}") from None
    if not marks or marks[0] <= 0:
        raise SystemExit(f"--checkpoints must be positive minutes, got {text!r}")
    return marks


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--configs", nargs="+", type=Path, default=CONFIGS, help="LM job configs (default: char LSTM and GRU)")
    ap.add_argument("--minutes", type=float, default=30.0, help="longest training per model (default 30)")
    ap.add_argument("--checkpoints", default="5,15,30", help="minutes at which to report validation bpc")
    ap.add_argument("--separate-runs", action=argparse.BooleanOptionalAction, default=True,
                    help="one fully annealed run per mark (default); --no-separate-runs: one run per model")
    ap.add_argument("--single-run", dest="separate_runs", action="store_false", help="same as --no-separate-runs")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for every run, as `textseq train-lm --set` (repeatable)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-char-quality")
    ap.add_argument("--overwrite", action="store_true", help="delete this benchmark's run dirs under --out first")
    args = ap.parse_args(argv)

    marks = parse_marks(args.checkpoints)
    if marks[-1] > args.minutes:
        ap.error(f"--checkpoints go up to {marks[-1]:g} minutes, beyond --minutes {args.minutes:g}")
    if marks[-1] != args.minutes:
        marks.append(args.minutes)  # the end of the run is always reported
    mode = "separate-runs" if args.separate_runs else "single-run"
    plan = [(m, [m]) for m in marks] if args.separate_runs else [(args.minutes, marks)]
    per_model = sum(length for length, _ in plan)
    configs = [p.resolve() for p in args.configs]
    for p in configs:
        if not p.is_file():
            ap.error(f"config not found: {p}")
    run_dirs = {(c, length): args.out / f"{c.stem}-{length:g}min{'' if args.separate_runs else '-single'}"
                for c in configs for length, _ in plan}
    taken = [d for d in run_dirs.values() if d.exists()]
    if taken and not args.overwrite:
        ap.error(f"{taken[0]} exists; pass --overwrite or choose another --out")
    for d in taken:
        shutil.rmtree(d)
    args.out.mkdir(parents=True, exist_ok=True)

    print(f"machine: {describe(machine_info())}")
    print(f"mode: {mode} | marks {', '.join(f'{m:g}' for m in marks)} min | {len(configs)} model(s) one after another, "
          f"{per_model:g} min of training each, {per_model * len(configs):g} min in all (+ evaluation and data preparation)")
    if not args.separate_runs and len(marks) > 1:
        print(f"note: marks before {args.minutes:g} min come from the middle of a {args.minutes:g}-minute cosine "
              "schedule (lr not yet annealed); --separate-runs gives fully annealed figures")
    results: list[dict[str, Any]] = []
    out_json = args.out / "results.json"

    def save() -> None:
        out_json.write_text(json.dumps({
            "machine": machine_info(), "mode": mode, "marks_minutes": marks, "overrides": args.overrides,
            "target": {"minutes": TARGET_MINUTES, "bpc": TARGET_BPC}, "results": results}, indent=1) + "\n",
            encoding="utf-8")

    started = time.monotonic()
    for config_path in configs:
        for length, run_marks in plan:
            run_dir = run_dirs[(config_path, length)]
            print(f"\n{config_path.stem}: training {length:g} min into {run_dir}", flush=True)
            records = train_one(config_path, length, [m for m in run_marks if m < length], run_dir, args.overrides,
                                lambda m: print(m, flush=True))
            for r in records:
                results.append({"model": config_path.stem, "config": str(config_path), "run_dir": str(run_dir),
                                "run_minutes": length, "mode": mode, **r})
            save()
    wall = (time.monotonic() - started) / 60

    print(f"\nmode: {mode}; full validation split; minutes = trainer clock (incl. its periodic evaluations)")
    print(f"{'model':<12} {'mark':>6} {'minutes':>8} {'steps':>8} {'tokens':>12} {'lr':>9} {'valid bpc':>10}")
    for r in results:
        print(f"{r['model']:<12} {r['mark_minutes']:>6g} {r['minutes']:>8.2f} {r['steps']:>8,} {r['tokens']:>12,} "
              f"{r['lr']:>9.2e} {r['valid_bpc']:>10.4f}")
    for model in dict.fromkeys(r["model"] for r in results):
        at = [r for r in results if r["model"] == model and r["mark_minutes"] == TARGET_MINUTES]
        if at:
            verdict = "yes" if at[0]["valid_bpc"] <= TARGET_BPC else "NO"
            print(f"{model}: {TARGET_MINUTES:g}-min bpc {at[0]['valid_bpc']:.4f} <= {TARGET_BPC}: {verdict}")
        else:
            print(f"{model}: no {TARGET_MINUTES:g}-minute mark in --checkpoints; target not checked")
    print(f"\nwall time {wall:.1f} min; results in {out_json}")


if __name__ == "__main__":
    main()
