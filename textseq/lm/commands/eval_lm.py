"""`textseq eval-lm`: loss, perplexity, bits per character and per byte of a trained LM on some text."""

from __future__ import annotations

import argparse

HELP = "evaluate a trained language model on a file or CORPUS:SPLIT; prints one JSON object"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from textseq.cliargs import device_name, positive_int

    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory of `textseq train-lm` (or a checkpoint directory)")
    p.add_argument("-i", "--input", required=True, help="a text/CSV/JSONL file, directory, CORPUS:SPLIT or hf:NAME:SPLIT")
    p.add_argument("--text-column", default="text", help="column holding the text in CSV/JSONL/datasets input (default: text)")
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint directory")
    p.add_argument("--batch-size", type=positive_int, default=32, help="streams evaluated at once (default: 32)")
    p.add_argument("--bptt", type=positive_int, default=256, help="window length (default: 256)")
    p.add_argument("--device", type=device_name, default="cpu", help="cpu (default), cuda, mps")


def run(args: argparse.Namespace) -> int:
    import json

    from textseq.lm.inference import evaluate_lm

    result = evaluate_lm(args.run_dir, args.input, checkpoint=args.checkpoint, batch_size=args.batch_size,
                         bptt=args.bptt, device=args.device, text_column=args.text_column)
    print(json.dumps(result))
    return 0
