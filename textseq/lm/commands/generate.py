"""`textseq generate`: stream text from a trained language model."""

from __future__ import annotations

import argparse

HELP = "generate text from a trained language model (streams to stdout)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory of `textseq train-lm` (or a checkpoint directory)")
    p.add_argument("--prime", default="\n", help="text to start from (default: a line break)")
    p.add_argument("--length", type=int, default=500, help="tokens to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (always the most likely token)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely tokens only")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling: the smallest set with this much probability")
    p.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a checkpoint directory")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps")


def run(args: argparse.Namespace) -> int:
    import sys

    from textseq.lm.inference import generate_text

    pieces = generate_text(args.run_dir, args.prime, args.length, temperature=args.temperature, top_k=args.top_k,
                           top_p=args.top_p, seed=args.seed, checkpoint=args.checkpoint, device=args.device,
                           with_prime=True)
    out = sys.stdout
    for piece in pieces:
        out.write(piece)
        out.flush()  # one token at a time, as it is sampled
    out.write("\n")
    out.flush()
    return 0
