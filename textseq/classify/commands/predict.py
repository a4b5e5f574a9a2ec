"""`textseq predict`: label texts with a trained classifier; one JSON line per text."""

from __future__ import annotations

import argparse

from textseq.classify.commands import add_model_arguments

HELP = ("label texts (arguments, -i FILE: text lines, CSV or JSONL, or standard input) with a trained classifier; "
        "prints JSONL")


def add_arguments(p: argparse.ArgumentParser) -> None:

    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory of `textseq train-classifier` (or a checkpoint directory)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to label (default: -i, else standard input when it is a pipe)")
    p.add_argument("-i", "--input", help="a text file (one document per line), .csv/.tsv, .jsonl, CORPUS:SPLIT, hf:NAME:SPLIT, "
                                         "or - for standard input (one document per line)")
    p.add_argument("--text-column", default="text", help="column holding the text in CSV/JSONL/datasets input (default: text)")
    p.add_argument("-o", "--output", help="write the JSONL here instead of standard output (default: standard output)")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT (and --attention files) if they exist")
    add_model_arguments(p)
    p.add_argument("--attention", metavar="DIR",
                   help="also write an attention heatmap PNG per text into DIR (pooling=attention; default: none)")


def run(args: argparse.Namespace) -> int:
    import json
    import logging
    import sys
    from pathlib import Path

    from textseq.classify.predict import Predictor, read_inputs, read_lines
    from textseq.errors import ConfigError
    from textseq.fileio import atomic_open, check_output_dir, check_output_path, input_paths

    log = logging.getLogger(__name__)
    if args.texts and args.input:
        raise ConfigError("give either TEXT arguments or -i FILE, not both")
    source = args.input or (None if args.texts else "-")
    if source == "-" and not args.input and sys.stdin.isatty():
        raise ConfigError("nothing to label: give TEXT arguments, -i FILE, or pipe texts into standard input")
    inputs = input_paths(args.input)
    if args.output:  # checked before anything is read or loaded
        check_output_path(args.output, args.force, "output", inputs)
    if args.attention:
        check_output_dir(args.attention, args.force, "--attention directory", inputs)
    if source is None:
        texts, ids = list(args.texts), [str(i) for i in range(len(args.texts))]
    elif source == "-":
        texts, ids = read_lines(sys.stdin.buffer, "<stdin>", args.errors)
    else:
        texts, _, ids = read_inputs(source, args.text_column, errors=args.errors)
    if not texts:
        log.warning(f"{source}: no texts to label")
    predictor = Predictor.load(args.run_dir, args.checkpoint, args.device, args.precision)
    results = predictor.predict(texts, batch_size=args.batch_size, workers=args.workers) if texts else []
    with_text = source in (None, "-")  # a file's rows are named by their id; typed or piped texts are echoed
    records = (json.dumps({"id": doc_id, **({"text": text} if with_text else {}), **result}, ensure_ascii=False) + "\n"
               for doc_id, text, result in zip(ids, texts, results))
    if args.output:
        with atomic_open(args.output) as out:  # complete or not there at all
            out.writelines(records)
    else:
        sys.stdout.writelines(records)
    if args.attention:
        from textseq.classify.plots import plot_attention

        for i, text in enumerate(texts):
            path = plot_attention(predictor, text, Path(args.attention) / f"attention_{i}.png")
            log.info(f"attention: {path}")
    return 0
