"""How often a two-rank gloo job dies at exit, with and without stop()'s settling pause.

    .venv/bin/python benchmarks/ddp_exit.py [--runs 40] [--settle 0 0.2] [--json FILE]

Each run starts two processes (1 thread each) that join a gloo process group through
textseq.train.distributed.start(), take one DistributedDataParallel step, make three
all_gather_object calls (as a job's last figures are gathered) and leave through stop() with
SETTLE_SECONDS set to one of the --settle values, then exit at once. A run counts as aborted when
either process ends with a signal or a non-zero status. The settle values take turns, run by run,
so both see the same machine; the load average before and after is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import describe, machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def child(settle: float) -> None:
    """One rank: a DDP step, three object gathers, stop() with `settle` seconds, then exit."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from textseq.train import distributed

    distributed.start("cpu")
    model = DistributedDataParallel(torch.nn.Linear(4, 2))  # from here on the backend outlives destroy_process_group
    model(torch.randn(3, 4)).sum().backward()
    for _ in range(3):
        out: list = [None, None]
        dist.all_gather_object(out, {"loss": 1.0})
    distributed.SETTLE_SECONDS = settle
    distributed.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(settle: float) -> tuple[bool, str]:
    """(aborted, the first failing rank's stderr) of one two-rank run."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env.update({"WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "PYTHONPATH": str(ROOT),
                "OMP_NUM_THREADS": "1", "TEXTSEQ_DIST_TIMEOUT": "60"})
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(settle)]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env={**env, "RANK": str(r)}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for r in range(2)]
    errors = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        if p.returncode != 0:
            errors.append(f"exit {p.returncode}: {err.strip()[-300:]}")
    return bool(errors), errors[0] if errors else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="runs for each settle value")
    parser.add_argument("--settle", type=float, nargs="+", default=[0.0, 0.2], help="SETTLE_SECONDS values to compare")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return 0
    print(describe(machine_info()))
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    aborted = {s: 0 for s in args.settle}
    first: dict[float, str] = {}
    for _ in range(args.runs):
        for s in args.settle:
            bad, err = one_run(s)
            aborted[s] += bad
            if bad and s not in first:
                first[s] = err
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print("| stop() pause (s) | two-rank runs | aborted at exit |")
    print("|---:|---:|---:|")
    for s in args.settle:
        print(f"| {s:g} | {args.runs} | {aborted[s]} |")
    for s, err in first.items():
        print(f"first failure with pause {s:g}: {err}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": args.runs, "aborted": {str(s): n for s, n in aborted.items()},
                                               "first_failure": {str(s): e for s, e in first.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
