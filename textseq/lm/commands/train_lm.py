"""`textseq train-lm`: prepare the data and train a language model into a run directory."""

from __future__ import annotations

import argparse

HELP = "train a character/subword/word LSTM or GRU language model from a config (preset name or YAML)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from textseq.train.job import add_train_arguments

    add_train_arguments(p, "lm", "char_lstm", "train.max_minutes=1", "raise train.max_steps to extend")


def run(args: argparse.Namespace) -> int:
    from textseq.train.job import run_train_command

    run_train_command(args)
    return 0
