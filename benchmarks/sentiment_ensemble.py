"""Averaged class probabilities of several trained classifiers, against each one alone and TF-IDF.

    .venv/bin/python benchmarks/sentiment_ensemble.py --corpus imdb \\
        runs/bench-sentiment2/imdb/lm_transfer runs/bench-sentiment3/imdb/lm_transfer \\
        runs/bench-sentiment4/imdb/lm_transfer

Every run's best checkpoint labels the raw valid and test texts through `Predictor.predict_proba`
(the path `textseq predict` takes); each run alone and every subset of two or more runs (scored by
the mean of its members' probabilities) gets textseq's accuracy on both splits. Which subset to trust is decided on the valid split only: the table marks
the subset with the best valid accuracy, and the average of all runs (chosen before looking at
anything). TF-IDF + logistic regression (benchmarks/sentiment.py's baseline, C picked on valid)
runs in the same process for the side-by-side figures. An ensemble predicts at the harmonic sum of
its members' rates: each member preprocesses and runs its own model.

Prints a Markdown table; --json FILE also writes the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
from sentiment import machine, machine_line, run_tfidf
from sentiment_setup import log, read_texts

from textseq.classify.metrics import classification_report

SPLITS = ("valid", "test")


def member_probs(run_dir: str, texts: dict[str, list[str]], labels: list[str]) -> tuple[dict[str, np.ndarray], float]:
    """({split: (N, C) probabilities in `labels` order}, test reviews/s) of one run's best checkpoint."""
    from textseq.classify.predict import Predictor

    predictor = Predictor.load(run_dir)
    if sorted(predictor.labels.labels) != sorted(labels):
        raise SystemExit(f"{run_dir}: labels {predictor.labels.labels} differ from the corpus's {labels}")
    order = [predictor.labels.labels.index(label) for label in labels]
    out, rate = {}, 0.0
    for split in SPLITS:
        start = time.perf_counter()
        out[split] = predictor.predict_proba(texts[split])[:, order]
        if split == "test":
            rate = len(texts[split]) / (time.perf_counter() - start)
    return out, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="`textseq train-classifier` run directories")
    parser.add_argument("--corpus", choices=("imdb", "rotten-tomatoes"), default="imdb")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    if len(args.runs) < 2:
        raise SystemExit("an ensemble needs two or more runs")

    texts, y_raw = {}, {}
    for split in SPLITS:
        texts[split], y_raw[split] = read_texts(f"{args.corpus}:{split}")
    labels = sorted(set(y_raw["test"]))
    y = {split: np.array([labels.index(label) for label in y_raw[split]]) for split in SPLITS}

    log("tfidf ...")
    tfidf = run_tfidf(f"{args.corpus}:train", args.corpus, texts["test"], y["test"], labels, repeats=1)
    rows = [{"members": ["tfidf"], "valid": max(g["valid_accuracy"] for g in tfidf["details"]["grid"]),
             "test": tfidf["accuracy"], "predict_per_s": tfidf["predict_per_s"]}]

    probs, rates = {}, {}
    for run in args.runs:
        log(f"{run} ...")
        probs[run], rates[run] = member_probs(run, texts, labels)
    for size in range(1, len(args.runs) + 1):
        for members in itertools.combinations(args.runs, size):
            row = {"members": list(members), "predict_per_s": 1.0 / sum(1.0 / rates[m] for m in members)}
            for split in SPLITS:
                mean = np.mean([probs[m][split] for m in members], axis=0)
                row[split] = float(classification_report(y[split], mean, labels)["accuracy"])
            rows.append(row)

    ensembles = [r for r in rows if len(r["members"]) > 1]
    chosen = max(ensembles, key=lambda r: r["valid"])
    everything = ensembles[-1]
    print(f"machine: {machine_line(machine())}")
    print(f"corpus: {args.corpus}; valid {len(y['valid']):,}, test {len(y['test']):,} documents\n")
    print("| members | valid accuracy | test accuracy | predict reviews/s | |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        mark = "best valid" if r is chosen else ("all runs" if r is everything else "")
        print(f"| {' + '.join(r['members'])} | {r['valid']:.4f} | {r['test']:.4f} | {r['predict_per_s']:,.0f} | {mark} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"corpus": args.corpus, "rows": rows, "chosen_on_valid": chosen["members"],
                                               "machine": machine()}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
