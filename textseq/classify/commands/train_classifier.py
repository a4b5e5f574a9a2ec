"""`textseq train-classifier`: prepare labelled data and train a text classifier into a run directory."""

from __future__ import annotations

import argparse

HELP = "train an LSTM/GRU (or bag-of-embeddings) text classifier from a YAML config"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from textseq.train.rundir import add_train_arguments

    add_train_arguments(p, "configs/sentiment/imdb_gru.yaml", "train.max_epochs=1",
                        "raise train.max_steps/max_epochs to extend")


def run(args: argparse.Namespace) -> int:
    from textseq.classify.config import load_job_config
    from textseq.classify.task import train_classifier
    from textseq.train.rundir import config_path_for

    config = load_job_config(config_path_for(args), args.overrides)
    train_classifier(config, args.output, resume=args.resume, progress=False if args.no_progress else None)
    return 0
