"""`textseq plot`: learning curves of a run, plus its task's own figures (textseq.lm.plots)."""

from __future__ import annotations

import argparse

HELP = "plot a run's learning curves (loss, perplexity, bpc, lr, gradient norms) and task figures as PNGs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("-o", "--output", default=None, metavar="DIR", help="where to write the PNGs (default RUN_DIR/plots)")


def run(args: argparse.Namespace) -> int:
    from textseq.lm.plots import plot

    for path in plot(args.run_dir, args.output):
        print(path)
    return 0
