"""`textseq train-lm`: prepare the data and train a language model into a run directory."""

from __future__ import annotations

import argparse

HELP = "train a character/subword/word LSTM or GRU language model from a YAML config"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", help="job YAML, e.g. configs/lm/char_lstm.yaml (with --resume: default RUN_DIR/config.yaml)")
    p.add_argument("-o", "--output", required=True, metavar="RUN_DIR", help="run directory (data, checkpoints, metrics)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.max_minutes=1 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR's latest checkpoint (raise train.max_steps to extend)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from textseq.errors import ConfigError
    from textseq.lm.config import load_job_config
    from textseq.lm.task import train_lm

    path = args.config
    if path is None:
        if not args.resume:
            raise ConfigError("give a config with -c CONFIG (only --resume can fall back to RUN_DIR/config.yaml)")
        path = Path(args.output) / "config.yaml"
    config = load_job_config(path, args.overrides)
    train_lm(config, args.output, resume=args.resume, progress=False if args.no_progress else None)
    return 0
