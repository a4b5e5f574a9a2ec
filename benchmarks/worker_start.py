"""The local preprocessing engine's pool under each start method: fork (the default), forkserver
(used while Ray runs in the process) and spawn.

    python benchmarks/worker_start.py [--docs 2000] [--jobs 2] [--rounds 2]

Each round runs the default pipeline over the first --docs IMDB training reviews in a new pool of
--jobs workers per start method, in turn; the time includes starting the workers and loading the
pipeline in each, which is what the start method changes.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import describe, machine_info  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(describe(machine_info()))
    sys.modules["torch"] = None  # type: ignore[assignment]  # as `preprocess` runs: no torch import in workers
    from textseq.corpora.readers import iter_documents
    from textseq.text import engines
    from textseq.text.pipeline import Pipeline, map_in_processes

    texts = [d.text for d in itertools.islice(iter_documents("imdb:train"), args.docs)]
    batches = [texts[i:i + 256] for i in range(0, len(texts), 256)]
    spec = Pipeline.default().spec()
    times: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for method in ("fork", "forkserver", "spawn"):
            engines.worker_context = lambda m=method: multiprocessing.get_context(m)  # what map_in_processes asks
            t = time.perf_counter()
            done = sum(len(b) for b in map_in_processes(spec, batches, args.jobs))
            times.setdefault(method, []).append(time.perf_counter() - t)
            assert done == len(texts)
    for method, seconds in times.items():
        print(f"{method:<11} " + "  ".join(f"{s:.2f} s" for s in seconds))
    print(f"load average (1 min) after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
