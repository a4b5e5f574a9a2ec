"""One process of a data-parallel test job (started by tests/train/test_distributed.py):

    python -m tests.train.ddp_job TASK CONFIG RUN_DIR OUT_JSON [--resume] [--die-at STEP] [--set KEY=VALUE ...]

With RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set it is one rank of a job; without them a one-process
job. Each rank writes OUT_JSON.rank<r> with the loss of every optimizer step (over all ranks) and
the final validation figures. --die-at kills rank DIE_RANK (default 1) with SIGKILL right after that
step, as `kill -9` would. Library errors print as one line, exit status 1, like the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

from textseq.errors import TextseqError
from textseq.runs import get_task
from textseq.train.callbacks import Callback
from textseq.train.job import run_job


class Record(Callback):
    """Keeps each step's loss; kills its own process after step `die_at` on rank DIE_RANK."""

    def __init__(self, die_at: int | None) -> None:
        self.losses: list[float] = []
        self.die_at = die_at

    def on_step_end(self, trainer: Any, step: int, logs: dict[str, Any]) -> None:
        self.losses.append(logs["loss"])
        if step == self.die_at and trainer.dist.rank == int(os.environ.get("DIE_RANK", "1")):
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("task")
    p.add_argument("config")
    p.add_argument("run_dir")
    p.add_argument("out")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--die-at", type=int, default=None)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    task = get_task(args.task)
    record = Record(args.die_at)
    try:
        job = run_job(task, task.load_config(args.config, args.overrides), args.run_dir, resume=args.resume,
                      progress=False, callbacks=[record])
    except TextseqError as err:
        print(f"textseq: error: {err}", file=sys.stderr)
        return 1
    last = job.fit.last_eval or {}
    with open(f"{args.out}.rank{os.environ.get('RANK', '0')}", "w") as f:
        json.dump({"losses": record.losses, "last_eval": last, "step": job.fit.step, "report": job.report}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
