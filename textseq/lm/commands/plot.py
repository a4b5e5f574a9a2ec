"""`textseq plot`: learning curves of a run, plus its task's own figures (textseq.lm.plots)."""

from __future__ import annotations

import argparse

HELP = "plot a run's learning curves (loss, perplexity, bpc, lr, gradient norms) and task figures as PNGs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of train-lm or train-classifier")
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="where to write the PNGs (default: RUN_DIR/plots, whose PNGs are redrawn on every call)")
    p.add_argument("--force", action="store_true", help="write into a non-empty -o DIR (replacing PNGs of the same names)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from textseq.fileio import check_output_dir, same_file
    from textseq.lm.plots import plot

    # RUN_DIR/plots is the run's own: redrawing it is what `plot` is for. Another directory is the
    # user's, and a non-empty one is only written into with --force.
    if args.output is not None and not same_file(args.output, Path(args.run_dir) / "plots"):
        check_output_dir(args.output, args.force, "output directory")
    for path in plot(args.run_dir, args.output):
        print(path)
    return 0
