"""Does a structural change keep every number? Train the same short jobs with an older tree and the
working tree and compare what they logged, to the last bit.

    python benchmarks/same_numbers.py --before REV          # e.g. the commit before a refactor

Jobs: the char_lstm LM (40 steps, evaluated at 20 and 40 on 20,000 validation characters, and a
60-character sample) and the rt_bilstm classifier (30 steps on the Rotten Tomatoes sentences, with
its valid and test reports), each on one thread. Both trees run under the same interpreter; a job
reads its config from its own tree.
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
from startup import ROOT, extract  # noqa: E402

# One job in a fresh interpreter: train, then print what it logged as JSON (repr keeps every bit).
JOB = r"""
import json, sys
from pathlib import Path
kind, config, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
if kind == "lm":
    from textseq.lm import train_lm as train
    over = ["train.max_steps=40", "train.eval_every=20", "data.eval_tokens=20000", "sample.length=60", "train.num_threads=1"]
else:
    from textseq.classify import train_classifier as train
    over = ["train.max_steps=30", "train.eval_every=15", "train.num_threads=1", "data.workers=1"]
try:
    result = train(config, out, overrides=over, progress=False)
except TypeError:  # trees from before the task seam took a log callback and a tuple
    result = train(config, out, overrides=tuple(over), progress=False, log=lambda m: None)
records = [json.loads(line) for line in open(out / "metrics.jsonl")]
figures = {"valid_losses": [repr(r["loss"]) for r in records if r["split"] == "valid"]}
figures.update({"bpc": repr(result.bpc), "sample": result.sample} if kind == "lm" else
               {f"{s}_accuracy": repr(result.reports[s]["accuracy"]) for s in ("valid", "test")})
print(json.dumps(figures))
"""
JOBS = {"lm": "configs/lm/char_lstm.yaml", "classify": "configs/sentiment/rt_bilstm.yaml"}


def run(tree: Path, kind: str, workdir: Path) -> dict:
    """The figures one tree's job logged."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", JOB, kind, str(tree / JOBS[kind]), str(workdir / kind)], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{kind} job failed in {tree}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, metavar="REV", help="the older commit to compare with")
    args = parser.parse_args()
    same = True
    with tempfile.TemporaryDirectory(prefix="textseq-same-") as tmp:
        old_tree = extract(args.before, Path(tmp) / "before")
        for kind in JOBS:
            before, after = (run(tree, kind, Path(tmp) / name) for tree, name in ((old_tree, "runs-before"), (ROOT, "runs-after")))
            for key in before:
                equal = before[key] == after.get(key)
                same &= equal
                print(f"{kind:<9} {key:<14} {'identical' if equal else 'DIFFERENT'}: {before[key]!r:.60}"
                      + ("" if equal else f" -> {after.get(key)!r:.60}"))
    print("every figure identical" if same else "some figures differ")
    raise SystemExit(0 if same else 1)


if __name__ == "__main__":
    main()
