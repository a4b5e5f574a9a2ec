"""`textseq generate`: stream text from a trained language model."""

from __future__ import annotations

import argparse

HELP = "generate text from a trained language model (streams to stdout)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from textseq.cliargs import device_name, non_negative_float, non_negative_int, positive_int, probability

    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory of `textseq train-lm` (or a checkpoint directory)")
    prime = p.add_mutually_exclusive_group()
    prime.add_argument("--prime", default=None, help="text to start from (default: a line break)")
    prime.add_argument("--prime-file", metavar="FILE", help="read the prime from FILE (- for standard input)")
    p.add_argument("--length", type=non_negative_int, default=500, help="tokens to generate (default: 500)")
    p.add_argument("--temperature", type=non_negative_float, default=0.8,
                   help="0 = greedy, always the most likely token (default: 0.8)")
    p.add_argument("--top-k", type=positive_int, default=None, help="sample among the k most likely tokens only")
    p.add_argument("--top-p", type=probability, default=None, help="nucleus sampling: the smallest set with this much probability")
    p.add_argument("--seed", type=non_negative_int, default=None, help="seed for reproducible sampling")
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint directory")
    p.add_argument("--device", type=device_name, default="cpu", help="cpu (default), cuda, mps")


def read_prime(path: str) -> str:
    """The prime in FILE, or on standard input for '-' (UTF-8; one trailing line break dropped)."""
    import sys
    from pathlib import Path

    from textseq.errors import InputError

    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"--prime-file {path}: {err.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"--prime-file {path}: not valid UTF-8 (byte {err.start})") from None
    return text[:-1] if text.endswith("\n") else text


def run(args: argparse.Namespace) -> int:
    import sys

    from textseq.lm.inference import generate_text

    prime = read_prime(args.prime_file) if args.prime_file else ("\n" if args.prime is None else args.prime)
    pieces = generate_text(args.run_dir, prime, args.length, temperature=args.temperature, top_k=args.top_k,
                           top_p=args.top_p, seed=args.seed, checkpoint=args.checkpoint, device=args.device,
                           with_prime=True)
    out = sys.stdout
    for piece in pieces:
        out.write(piece)
        out.flush()  # one token at a time, as it is sampled
    out.write("\n")
    out.flush()
    return 0
