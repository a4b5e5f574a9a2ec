"""The Ray engine vs the local multiprocess engine: `preprocess` of IMDB reviews at the same CPUs.

Both run the real path (`preprocess_to_jsonl`: read imdb:train, run the default pipeline, write
JSONL) with the same number of workers. Each measurement runs in a fresh process (a process that
runs Ray must not fork worker processes, and each engine starts cold, as a user's command does),
rounds alternate the order. Reported per engine (medians):

    startup   Ray only: starting the local Ray instance (`ray.init`), paid once per command
    fixed     a run over 64 reviews: worker or actor start, spaCy loading, planning
    run       the run over all reviews (workers or actors started and spaCy loaded within it)

and words/s = input words (whitespace-separated) / run, and with Ray's start-up added. The outputs
of both engines are compared byte for byte.

    .venv/bin/python benchmarks/preprocess_engines.py [--docs 20000] [--jobs 2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "imdb:train"
TINY = 64


def one(engine: str, docs: int, jobs: int, out_dir: str) -> dict[str, float]:
    """Measure one engine in this process (a child of main)."""
    from textseq.text.commands import _torch_hidden
    from textseq.text.engines import make_engine
    from textseq.text.files import preprocess_to_jsonl
    from textseq.text.pipeline import Pipeline

    pipeline = Pipeline.default()
    result = {"startup": 0.0}
    # as `textseq preprocess` runs: spaCy's thinc does not import torch, in this process or its workers
    with _torch_hidden(), make_engine(engine, jobs=jobs) as runner:  # for Ray: starts the local instance, reused below
        result["startup"] = getattr(runner, "startup_seconds", 0.0)
        for name, limit in (("fixed", TINY), ("run", docs)):
            t0 = time.perf_counter()
            preprocess_to_jsonl(pipeline, SOURCE, Path(out_dir) / f"{engine}-{name}.jsonl", n_proc=jobs,
                                limit=limit, progress=False, engine=engine)
            result[name] = time.perf_counter() - t0
    return result


def input_words(docs: int) -> int:
    """Whitespace-separated words of the first `docs` reviews."""
    import itertools

    from textseq.corpora.readers import iter_documents

    return sum(len(d.text.split()) for d in itertools.islice(iter_documents(SOURCE), docs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20000, help="IMDB training reviews to process")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes / Ray actors (and Ray's CPUs)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, engine order alternated; medians reported")
    parser.add_argument("--one", choices=["local", "ray"], help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.docs, args.jobs, args.out_dir)))
        return

    sys.path.insert(0, str(ROOT))
    from common import cpu_model

    words = input_words(args.docs)
    print(f"{SOURCE}: {args.docs:,} reviews, {words:,} words, default pipeline; {cpu_model()}, "
          f"{os.cpu_count()} cores, jobs={args.jobs}, load average at start {os.getloadavg()[0]:.2f}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("RAY_ADDRESS", None)  # a local Ray with --jobs CPUs, never a cluster found in the environment
    engines = ["local", "ray"]
    runs: dict[str, list[dict[str, float]]] = {e: [] for e in engines}
    with tempfile.TemporaryDirectory() as out_dir:
        for r in range(args.rounds):
            for engine in engines if r % 2 == 0 else engines[::-1]:
                cmd = [sys.executable, __file__, "--one", engine, "--docs", str(args.docs), "--jobs", str(args.jobs),
                       "--out-dir", out_dir]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    sys.exit(f"{engine} failed:\n{done.stderr[-2000:]}")
                runs[engine].append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"round {r + 1} {engine:>5}: " + ", ".join(f"{k} {v:.2f}s" for k, v in runs[engine][-1].items()))
        same = (Path(out_dir) / "ray-run.jsonl").read_bytes() == (Path(out_dir) / "local-run.jsonl").read_bytes()
    med = {e: {k: statistics.median(x[k] for x in runs[e]) for k in runs[e][0]} for e in engines}
    print(f"{'engine':<7} {'startup s':>9} {'fixed s':>8} {'run s':>7} {'words/s':>10} {'words/s incl. startup':>22}")
    for e in engines:
        m = med[e]
        print(f"{e:<7} {m['startup']:9.2f} {m['fixed']:8.2f} {m['run']:7.2f} {words / m['run']:10,.0f} "
              f"{words / (m['run'] + m['startup']):22,.0f}")
    ratio = med["local"]["run"] / med["ray"]["run"]
    ratio_all = med["local"]["run"] / (med["ray"]["run"] + med["ray"]["startup"])
    steady = (med["local"]["run"] - med["local"]["fixed"]) / (med["ray"]["run"] - med["ray"]["fixed"])
    print(f"ray / local words/s: {ratio:.2f}x (goal >= 0.8x); with Ray's start-up: {ratio_all:.2f}x; "
          f"after each engine's fixed cost: {steady:.2f}x")
    print(f"outputs identical: {same}; load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
