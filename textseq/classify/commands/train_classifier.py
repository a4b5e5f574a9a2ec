"""`textseq train-classifier`: prepare labelled data and train a text classifier into a run directory."""

from __future__ import annotations

import argparse

HELP = "train an LSTM/GRU (or bag-of-embeddings) text classifier from a config (preset name or YAML)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from textseq.train.job import add_train_arguments

    add_train_arguments(p, "classify", "imdb_gru", "train.max_epochs=1", "raise train.max_steps/max_epochs to extend")


def run(args: argparse.Namespace) -> int:
    from textseq.train.job import run_train_command

    run_train_command(args)
    return 0
