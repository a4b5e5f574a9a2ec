"""`textseq train-lm`: prepare the data and train a language model into a run directory."""

from __future__ import annotations

import argparse

HELP = "train a character/subword/word LSTM or GRU language model from a YAML config"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from textseq.train.rundir import add_train_arguments

    add_train_arguments(p, "configs/lm/char_lstm.yaml", "train.max_minutes=1", "raise train.max_steps to extend")


def run(args: argparse.Namespace) -> int:
    from textseq.lm.config import load_job_config
    from textseq.lm.task import train_lm
    from textseq.train.rundir import config_path_for

    config = load_job_config(config_path_for(args), args.overrides)
    train_lm(config, args.output, resume=args.resume, progress=False if args.no_progress else None)
    return 0
