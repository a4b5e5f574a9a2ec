"""`textseq predict`: label texts with a trained classifier; one JSON line per text."""

from __future__ import annotations

import argparse

from textseq.classify.commands import add_precision_argument

HELP = "label texts (arguments, or -i FILE: text lines, CSV or JSONL) with a trained classifier; prints JSONL"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory of `textseq train-classifier` (or a checkpoint directory)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to label")
    p.add_argument("-i", "--input", help="a text file (one document per line), .csv/.tsv, .jsonl, CORPUS:SPLIT or hf:NAME:SPLIT")
    p.add_argument("--text-column", default="text", help="column holding the text in CSV/JSONL/datasets input")
    p.add_argument("-o", "--output", help="write the JSONL here instead of stdout")
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint directory")
    p.add_argument("--batch-size", type=int, default=64, help="documents per forward pass (64 keeps a CPU's cache warm)")
    p.add_argument("--workers", type=int, default=0, help="preprocessing processes (0 = automatic)")
    p.add_argument("--errors", default="strict", choices=["strict", "replace", "skip"], help="undecodable bytes / bad records")
    p.add_argument("--device", default="cpu")
    add_precision_argument(p)
    p.add_argument("--attention", metavar="DIR", help="also write an attention heatmap PNG per text into DIR (pooling=attention)")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from textseq.classify.predict import Predictor, read_inputs
    from textseq.errors import ConfigError

    if bool(args.texts) == bool(args.input):
        raise ConfigError("give either TEXT arguments or -i FILE")
    if args.input:
        texts, _, ids = read_inputs(args.input, args.text_column, errors=args.errors)
    else:
        texts, ids = list(args.texts), [str(i) for i in range(len(args.texts))]
    predictor = Predictor.load(args.run_dir, args.checkpoint, args.device, args.precision)
    results = predictor.predict(texts, batch_size=args.batch_size, workers=args.workers)
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for doc_id, result in zip(ids, results):
            out.write(json.dumps({"id": doc_id, **result}, ensure_ascii=False) + "\n")
    finally:
        if args.output:
            out.close()
    if args.attention:
        from textseq.classify.plots import plot_attention

        for i, text in enumerate(texts):
            path = plot_attention(predictor, text, Path(args.attention) / f"attention_{i}.png")
            print(f"attention: {path}", file=sys.stderr)
    return 0
