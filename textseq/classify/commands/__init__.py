"""The classification subcommands: train-classifier, predict, eval-classifier (see textseq/cli.py)."""

import argparse

PRECISIONS = ("fp32", "bf16", "fp16")  # textseq.train.device.PRECISIONS, without importing torch to parse arguments


def add_precision_argument(p: argparse.ArgumentParser) -> None:
    """--precision of the commands that run a trained classifier (predict, eval-classifier)."""
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="bf16: autocast the model to bfloat16 (faster on CPUs with AVX512-BF16 or AMX; "
                        "probabilities move by ~1e-3); fp16 needs CUDA (default: fp32)")
