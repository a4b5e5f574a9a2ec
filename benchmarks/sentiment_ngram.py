"""Trained sentiment runs (n-gram, neural, ensembles) side by side: in-domain valid/test accuracy,
cross-domain accuracy on another corpus without retraining, and prediction throughput.

    .venv/bin/python benchmarks/sentiment_ngram.py --corpus imdb --cross rotten-tomatoes \\
        nbsvm=runs/imdb-nbsvm gru=runs/imdb-gru hybrid=runs/imdb-hybrid --json runs/bench-ngram.json

Every figure comes from `Predictor.predict_proba` on the raw texts (the path `textseq predict` and
`eval-classifier` take) and textseq's own metrics. In-domain: CORPUS:valid and CORPUS:test. Cross
domain: every labelled document of the --cross corpus (its train, valid and test splits together;
for Rotten Tomatoes the 8,530 sentences), which none of the IMDB runs saw. Throughput: the
CORPUS:test texts, after a warm-up call on 64 of them, the best of --repeats passes, on --threads
torch threads (pipeline workers: textseq's automatic choice). The chosen model is the one with the
best VALID accuracy (marked); test figures are never used to choose. With --unshared, every ensemble
is timed a second time with each member running its own pipeline (`share_pipelines = False`), in
the same rounds, so the gain from tokenizing once for members with one pipeline is a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sentiment_setup import read_texts  # noqa: E402

from textseq.classify.metrics import classification_report  # noqa: E402
from textseq.classify.predict import Predictor  # noqa: E402


def accuracy(predictor: Predictor, texts: list[str], labels: list[str]) -> float:
    """textseq's accuracy of the predictor on labelled raw texts."""
    names = predictor.labels.labels
    y = np.array([names.index(label) for label in labels])
    return float(classification_report(y, predictor.predict_proba(texts), names)["accuracy"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=RUN_DIR")
    parser.add_argument("--corpus", default="imdb")
    parser.add_argument("--cross", default=None, help="a corpus scored without retraining (all its splits)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--unshared", action="store_true", help="also time ensembles with every member's own pipeline")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = {split: read_texts(f"{args.corpus}:{split}") for split in ("valid", "test")}
    cross = None
    if args.cross:
        parts = [read_texts(f"{args.cross}:{s}") for s in ("train", "valid", "test")]
        cross = ([t for p in parts for t in p[0]], [y for p in parts for y in p[1]])
    rows = []
    for item in args.runs:
        name, _, run_dir = item.partition("=")
        predictor = Predictor.load(run_dir)
        row = {"name": name, "run_dir": run_dir}
        for split, (texts, labels) in data.items():
            row[split] = accuracy(predictor, texts, labels)
        if cross is not None:
            row["cross"] = accuracy(predictor, *cross)
        texts = data["test"][0]
        predictor.predict_proba(texts[:64])
        modes = [True, False] if args.unshared and hasattr(predictor.model, "share_pipelines") else [True]
        seconds: dict[bool, list[float]] = {m: [] for m in modes}
        for _ in range(max(1, args.repeats)):
            for shared in modes:  # alternated, so both see the same machine
                if len(modes) > 1:
                    predictor.model.share_pipelines = shared
                t0 = time.perf_counter()
                predictor.predict_proba(texts)
                seconds[shared].append(time.perf_counter() - t0)
        row["per_s"] = len(texts) / min(seconds[True])
        if False in seconds:
            row["per_s_unshared"] = len(texts) / min(seconds[False])
        row["load"] = os.getloadavg()[0]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    chosen = max(rows, key=lambda r: r["valid"])["name"]
    cross_head = f" | {args.cross} (all, cross-domain)" if cross is not None else ""
    print(f"| model | {args.corpus} valid | {args.corpus} test{cross_head} | predict texts/s | load |")
    print("|---|---:|---:|" + ("---:|" if cross is not None else "") + "---:|---:|")
    for r in rows:
        mark = " (chosen on valid)" if r["name"] == chosen else ""
        cross_cell = f" | {r['cross']:.4f}" if cross is not None else ""
        print(f"| {r['name']}{mark} | {r['valid']:.4f} | {r['test']:.4f}{cross_cell} | {r['per_s']:,.0f} | {r['load']:.1f} |")
    for r in rows:
        if "per_s_unshared" in r:
            print(f"# {r['name']}: {r['per_s']:,.0f} texts/s with one pipeline run per distinct pipeline, "
                  f"{r['per_s_unshared']:,.0f} with every member's own ({r['per_s'] / r['per_s_unshared']:.2f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps({"corpus": args.corpus, "cross": args.cross, "threads": args.threads,
                                               "cross_documents": len(cross[0]) if cross else None, "rows": rows,
                                               "chosen_on_valid": chosen}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
