"""Train the default character LSTM on Shakespeare from Python, then sample from it and score it.

    python pipelines/train_char_lm.py [-q | -v] [RUN_DIR] [MINUTES]

The same job as `textseq train-lm -c char_lstm` (the preset `textseq configs show char_lstm` prints),
written with the Python API: train_lm runs the job, load_run opens what it wrote. RUN_DIR must be new
(default runs/char-lm). Progress messages go to stderr (-q: warnings only); the sample and scores to stdout.
"""

from textseq import load_run
from textseq.corpora import fetch
from textseq.lm import evaluate_lm, generate_text, train_lm
from textseq.log import script_logging

args = script_logging()  # textseq's messages to stderr, as the `textseq` command shows them
run_dir = args[0] if len(args) > 0 else "runs/char-lm"
minutes = float(args[1]) if len(args) > 1 else 3.0

fetch("shakespeare")  # once; a no-op when already fetched

# 1. train: the preset's data, model and schedule, with a time budget and no end-of-run sample
result = train_lm("char_lstm", run_dir, overrides=[f"train.max_minutes={minutes}", "sample.length=0"])

# 2. open the run: the best checkpoint's model, its codec and the resolved config
run = load_run(run_dir)

# 3. sample (streaming) and score the held-out test plays
for piece in generate_text(run.model, prime="ROMEO:\n", length=300, temperature=0.8, seed=0, codec=run.codec):
    print(piece, end="", flush=True)
test = evaluate_lm(run.model, "shakespeare:test", codec=run.codec)
print(f"\nvalidation bpc {result.bpc:.3f}; test bpc {test['bpc']:.3f}")
