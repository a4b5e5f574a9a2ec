"""The classification subcommands: train-classifier, predict, eval-classifier (see textseq/cli.py)."""
