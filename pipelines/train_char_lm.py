"""Fetch Shakespeare, encode it by characters, train a small LSTM for a few minutes, sample from it.

    python pipelines/train_char_lm.py [-q | -v] [RUN_DIR] [MINUTES]

The same job as `textseq train-lm -c configs/lm/char_lstm.yaml`, written with the Python API.
Progress messages go to stderr (-q: warnings only); the sample and the scores to stdout.
"""

import logging

from textseq.corpora import fetch
from textseq.lm import LMJobConfig, evaluate_lm, generate_text, prepare, train_lm
from textseq.log import script_logging

args = script_logging()  # textseq's messages to stderr, as the `textseq` command shows them
log = logging.getLogger("textseq.pipelines.train_char_lm")
run_dir = args[0] if len(args) > 0 else "runs/char-lm"
minutes = float(args[1]) if len(args) > 1 else 3.0

fetch("shakespeare")  # once; a no-op when already in corpora/cache/

config = LMJobConfig.model_validate({
    "data": {"train": "shakespeare:train", "valid": "shakespeare:valid", "level": "char",
             "batch_size": 32, "bptt": 128, "eval_tokens": 50_000},
    "model": {"cell": "lstm", "emb_dim": 64, "hidden_size": 256, "num_layers": 1,
              "dropout_emb": 0.0, "dropout_layers": 0.0, "dropout_out": 0.1, "tie_weights": False},
    "train": {"optimizer": {"lr": 3e-3}, "schedule": {"name": "cosine", "warmup_steps": 50, "min_lr": 0.05},
              "max_minutes": minutes, "eval_every": 200, "device": "cpu", "num_threads": 1, "tensorboard": False},
    "sample": {"length": 0},  # sampled below instead
})

# 1. encode: the codec is built on the training split; the splits become memory-mapped token files
data = prepare(config.data, run_dir)
log.info(f"vocabulary: {data.codec.size} characters; train: {len(data.splits['train']):,} tokens")

# 2. train (prepare is called again inside and reuses the files written above)
result = train_lm(config, run_dir)

# 3. sample from the best checkpoint, streaming, and evaluate on the held-out test plays
for piece in generate_text(run_dir, prime="ROMEO:\n", length=300, temperature=0.8, seed=0):
    print(piece, end="", flush=True)
test = evaluate_lm(run_dir, "shakespeare:test")
print(f"\nvalidation bpc {result.bpc:.3f}; test bpc {test['bpc']:.3f}")
