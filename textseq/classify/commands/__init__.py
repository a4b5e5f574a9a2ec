"""The classification subcommands: train-classifier, predict, eval-classifier (see textseq/cli.py)."""

import argparse

PRECISIONS = ("fp32", "bf16", "fp16")  # textseq.train.device.PRECISIONS, without importing torch to parse arguments


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """How predict and eval-classifier run a trained classifier: which checkpoint, batches, workers,
    the error policy for their input, the device and the precision."""
    from textseq.cliargs import device_name, non_negative_int, positive_int

    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint directory")
    p.add_argument("--batch-size", type=positive_int, default=64, help="documents per forward pass (default: 64, keeps a CPU's cache warm)")
    p.add_argument("--workers", type=non_negative_int, default=0, help="preprocessing processes (default: 0 = automatic)")
    p.add_argument("--errors", default="strict", choices=["strict", "replace", "skip"],
                   help="undecodable bytes / bad records: stop naming the line, replace the bytes, or skip and count (default: strict)")
    p.add_argument("--device", type=device_name, default="cpu", help="cpu (default), cuda, mps")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS,
                   help="bf16: autocast the model to bfloat16 (faster on CPUs with AVX512-BF16 or AMX; "
                        "probabilities move by ~1e-3); fp16 needs CUDA (default: fp32)")
