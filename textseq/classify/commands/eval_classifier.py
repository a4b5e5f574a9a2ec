"""`textseq eval-classifier`: accuracy, macro-F1, per-class P/R/F1, confusion matrix and ROC-AUC on labelled data."""

from __future__ import annotations

import argparse

from textseq.classify.commands import add_precision_argument

HELP = "evaluate a trained classifier on a labelled CSV/JSONL file or CORPUS:SPLIT; prints one JSON object"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from textseq.cliargs import non_negative_int, positive_int

    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory of `textseq train-classifier` (or a checkpoint directory)")
    p.add_argument("-i", "--input", required=True, help="a .csv/.tsv/.jsonl file, CORPUS:SPLIT or hf:NAME:SPLIT")
    p.add_argument("--text-column", default=None,
                   help="column holding the text (default: the run's data.text_column, the one it was trained on)")
    p.add_argument("--label-column", default=None,
                   help="column holding the label (default: the run's data.label_column)")
    p.add_argument("--unseen-labels", default="error", choices=["error", "skip"],
                   help="labels that are not training classes: an error naming the row (default), or skipped and counted")
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint directory")
    p.add_argument("--batch-size", type=positive_int, default=64, help="documents per forward pass (default: 64, keeps a CPU's cache warm)")
    p.add_argument("--workers", type=non_negative_int, default=0, help="preprocessing processes (default: 0 = automatic)")
    p.add_argument("--errors", default="strict", choices=["strict", "replace", "skip"],
                   help="undecodable bytes / bad records: stop naming the line, replace the bytes, or skip and count (default: strict)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps")
    add_precision_argument(p)


def run(args: argparse.Namespace) -> int:
    import json

    from textseq.classify.predict import evaluate_classifier

    report = evaluate_classifier(args.run_dir, args.input, text_column=args.text_column, label_column=args.label_column,
                                 unseen_labels=args.unseen_labels, checkpoint=args.checkpoint, batch_size=args.batch_size,
                                 workers=args.workers, errors=args.errors, device=args.device,
                                 precision=args.precision)
    print(json.dumps(report, ensure_ascii=False))
    return 0
