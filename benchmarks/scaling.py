"""Data-parallel training on this machine: one process against two (torchrun, gloo, 1 thread each).

    python benchmarks/scaling.py [--lm-steps 60] [--classify-steps 60] [--only 'char LM'|classifier] [--set K=V] [--json FILE]

For each job the same optimizer steps on the same global batch are taken three ways:

    1 x 2B     one process, batch 2B              the job as one process trains it today
    2 x B      two processes, batch B each         the same steps, split (the same numbers, up to float)
    1 x B      one process, batch B                what one of the two ranks does alone

and the script prints tokens (documents) per second of each, the ratio 2 x B / 1 x 2B (what a
second process buys for the same job) and 2 x B / 1 x B (per-process scaling at a fixed per-process
batch), with the validation figure after the same number of tokens (1 x 2B against 2 x B). Jobs:
the char_lstm LM (B = 32 streams x 128) and the rt_bilstm classifier (B = 64 sentences). Rates
are the mean of the logged training rates after the first record (evaluation and checkpoints are
left out of them); the load average before and after is printed, since other work on the machine
changes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import describe, machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
JOBS = {  # name -> (command, preset, per-process batch, validation figure, its unit, extra overrides)
    "char LM": ("train-lm", "char_lstm", 32, "bpc", "tokens/s", ["data.eval_tokens=null", "sample.length=0"]),
    "classifier": ("train-classifier", "rt_bilstm", 64, "accuracy", "docs/s",
                   ["train.early_stopping=null", "train.max_epochs=null", "data.workers=1"]),
}


def train(command: str, preset: str, run_dir: Path, nproc: int, batch: int, steps: int, extra: list[str]) -> dict:
    """One job; its mean training rate and final validation figures."""
    over = [f"data.batch_size={batch}", f"train.max_steps={steps}", "train.max_minutes=null", f"train.eval_every={steps}",
            f"train.log_every={max(1, steps // 6)}", "train.num_threads=1", *extra]
    cmd = [sys.executable, "-m", "textseq", "-q", command, "-c", preset, "-o", str(run_dir), "--no-progress",
           *(["--nproc", str(nproc)] if nproc > 1 else []), *[x for o in over for x in ("--set", o)]]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    rates = [r["items_per_sec"] for r in records if r["split"] == "train"][1:]
    valid = [r for r in records if r["split"] == "valid"][-1]
    return {"rate": sum(rates) / len(rates), "valid": valid, "items": steps * batch * nproc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lm-steps", type=int, default=60)
    parser.add_argument("--classify-steps", type=int, default=60)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--classify-batch", type=int, default=None, help="per-process batch (default: 64, the preset's)")
    parser.add_argument("--only", choices=sorted(JOBS), help="run one of the jobs")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every run of every job, e.g. train.optimizer.fused=true")
    args = parser.parse_args()
    before = machine_info()
    print(describe(before))
    results = {}
    with tempfile.TemporaryDirectory(prefix="textseq-scaling-") as tmp:
        for name, (command, preset, batch, figure, unit, extra) in JOBS.items():
            if args.only not in (None, name):
                continue
            steps = args.lm_steps if command == "train-lm" else args.classify_steps
            batch = args.classify_batch if command == "train-classifier" and args.classify_batch else batch
            runs = {label: train(command, preset, Path(tmp) / f"{preset}-{label.replace(' ', '')}", nproc, b, steps,
                                 [*extra, *args.set])
                    for label, nproc, b in (("1 x 2B", 1, 2 * batch), ("2 x B", 2, batch), ("1 x B", 1, batch))}
            one, two, half = runs["1 x 2B"], runs["2 x B"], runs["1 x B"]
            row = {"steps": steps, "batch_per_process": batch,
                   **{f"{label} {unit}": round(r["rate"], 1) for label, r in runs.items()},
                   "ratio 2 x B / 1 x 2B": round(two["rate"] / one["rate"], 3),
                   "ratio 2 x B / 1 x B": round(two["rate"] / half["rate"], 3),
                   f"valid {figure} 1 x 2B": round(one["valid"][figure], 4),
                   f"valid {figure} 2 x B": round(two["valid"][figure], 4),
                   f"valid {figure} 1 x B (half the items)": round(half["valid"][figure], 4)}
            results[name] = row
            print(f"{name}: " + " | ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    after = machine_info()
    print(f"load average (1 min) before {before['loadavg_1m']}, after {after['loadavg_1m']}")
    if args.json:
        args.json.write_text(json.dumps({"machine": before, "load_after": after["loadavg_1m"], "results": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
