"""`textseq eval-classifier`: accuracy, macro-F1, per-class P/R/F1, confusion matrix and ROC-AUC on labelled data."""

from __future__ import annotations

import argparse

from textseq.classify.commands import add_model_arguments

HELP = "evaluate a trained classifier on a labelled CSV/JSONL file or CORPUS:SPLIT; prints one JSON object"


def add_arguments(p: argparse.ArgumentParser) -> None:

    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory of `textseq train-classifier` (or a checkpoint directory)")
    p.add_argument("-i", "--input", required=True, help="a .csv/.tsv/.jsonl file, CORPUS:SPLIT or hf:NAME:SPLIT")
    p.add_argument("--text-column", default=None,
                   help="column holding the text (default: the run's data.text_column, the one it was trained on)")
    p.add_argument("--label-column", default=None,
                   help="column holding the label (default: the run's data.label_column)")
    p.add_argument("--unseen-labels", default="error", choices=["error", "skip"],
                   help="labels that are not training classes: an error naming the row (default), or skipped and counted")
    add_model_arguments(p)


def run(args: argparse.Namespace) -> int:
    import json

    from textseq.classify.predict import evaluate_classifier

    report = evaluate_classifier(args.run_dir, args.input, text_column=args.text_column, label_column=args.label_column,
                                 unseen_labels=args.unseen_labels, checkpoint=args.checkpoint, batch_size=args.batch_size,
                                 workers=args.workers, errors=args.errors, device=args.device,
                                 precision=args.precision)
    print(json.dumps(report, ensure_ascii=False))
    return 0
