"""Sentiment classifiers on IMDB (or Rotten Tomatoes): accuracy, macro-F1, training minutes and
prediction throughput on this CPU, against a TF-IDF + logistic-regression baseline.

Models (--models, default all five, run one after the other, never in parallel):

    tfidf         scikit-learn TfidfVectorizer (word 1-2 grams, sublinear tf, min_df 2) +
                  LogisticRegression, C picked on the valid split from a small grid
    bag           configs/sentiment/bag_of_embeddings.yaml        (mean of GloVe vectors -> MLP)
    bilstm_glove  configs/sentiment/imdb_bilstm_glove.yaml        (rt_bilstm.yaml on Rotten Tomatoes)
    gru           configs/sentiment/imdb_gru.yaml
    lm_transfer   configs/sentiment/imdb_lm_transfer.yaml         (needs word LMs: --lm-run and, with
                  --lm-directions both, --lm-backward-run; or they are trained here)
    lm_scratch    the same model without the LM: imdb_lm_transfer.yaml with transfer off and the LM's
                  architecture, pipeline, min_freq and max_size as overrides, so the only difference
                  from lm_transfer is where the weights start (what pretraining buys)

Rotten Tomatoes has no YAML of its own except rt_bilstm.yaml: the other configs are derived from
the IMDB ones with --set overrides that copy rt_bilstm.yaml's data settings (splits, min_freq,
max_size, max_tokens, truncate) and its training cadence (max_epochs, max_minutes, eval_every,
log_every, warmup, early-stopping patience). The exact overrides are printed and saved.

For each model: train on the train split with the valid split for early stopping / best/ (the
real `textseq.classify.train_classifier`), evaluate the best checkpoint on the test split with
textseq's own metrics (textseq.classify.metrics.classification_report: accuracy, macro-F1), and
measure prediction throughput with `Predictor.predict` on the RAW test texts: preprocessing
(spaCy pipeline, worker processes started per call), encoding, batching and the model - the
number a user sees. A warm-up call on a few texts runs first. The test metrics are also computed
from the Predictor's output and must agree with the training-time report (a check of the
predict path).

"Train min" is the wall clock of the whole training call: reading and preprocessing the three
splits, building the vocabulary and embedding table, training, periodic and final evaluation,
checkpoints. The trainer's own clock (what train.max_minutes limits) is in the JSON as fit_min.
TF-IDF's train minutes are vectorizer fit + every fit of the C grid (the tuning is part of it).

LM transfer without --lm-run first trains a word LM with the command documented in
configs/sentiment/imdb_lm_transfer.yaml (splits swapped for the chosen corpus) into
OUT/CORPUS/lm, for --lm-minutes (default: --max-minutes, else the documented 20); its minutes are
reported separately (lm_train_min) and not included in the classifier's. With --lm-directions both
(ULMFiT's forward and backward LMs) the backward LM, the same command with model.direction=backward
and embedding.from_lm=<the forward LM> (both directions of the classifier read one embedding), goes
to OUT/CORPUS/lm_backward (without --lm-backward-run) and starts the right-to-left direction of
the classifier's encoder; its minutes are lm_backward_train_min. The LMs always read the
whole CORPUS:train as unlabeled text, with --limit-train too: the labels are what is scarce, not
the text (ULMFiT's setting). So

    .venv/bin/python benchmarks/sentiment.py --corpus imdb --limit-train 1000 --lm-run runs/bench-sentiment/imdb/lm \\
        --models tfidf bilstm_glove lm_scratch lm_transfer --out runs/bench-sentiment-1k

shows what pretraining buys with 1,000 labelled reviews (lm_scratch: the same model, random start).

    .venv/bin/python benchmarks/sentiment.py --corpus imdb --out runs/bench-sentiment
    .venv/bin/python benchmarks/sentiment.py --corpus rotten-tomatoes --limit-train 400 --max-minutes 0.2 \\
        --models tfidf bag bilstm_glove --out /tmp/bench-sent --overwrite          # smoke test, ~40 s

--predict-only trains nothing: it loads the run directories of an earlier run under --out and
measures prediction throughput again (for a quieter machine than the one that trained them); the
accuracy each model gives must be unchanged, and results.json keeps both machines. With
--precision bf16 the model runs under bfloat16 autocast; the accuracy it gives then goes to
details.predict_bf16 beside the fp32 figure instead of being required to match.

The texts, configs, --set overrides and LM runs it trains from: benchmarks/sentiment_setup.py.

Writes OUT/CORPUS/MODEL/ (run directories) and OUT/CORPUS/results.json (rewritten after every
model); --json prints the same JSON on stdout (the logs go to stderr).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textseq.classify.config import load_job_config
from textseq.classify.metrics import classification_report
from textseq.classify.predict import Predictor
from textseq.data.classification import auto_workers
from textseq.classify.task import PREDICT_BATCH, train_classifier
from common import describe, machine_info
from sentiment_setup import (LM_DOCUMENTED_MINUTES, ROOT, SMALL_DATA_EPOCHS, fresh_run_dir, language_model,
                             limited_train, lm_directions, log, model_config, read_texts)

MODELS = ("tfidf", "bag", "bilstm_glove", "gru", "lm_transfer", "lm_scratch")
TFIDF_C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
TARGET_BILSTM_ACCURACY = 0.88  # IMDB
TARGET_THROUGHPUT = 500.0  # reviews/second, CPU
WARMUP_TEXTS = 64


# --------------------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    """The common machine description, plus scikit-learn, spaCy and CUDA."""
    import sklearn
    import spacy

    return machine_info(scikit_learn=sklearn.__version__, spacy=spacy.__version__, cuda=torch.cuda.is_available())


def machine_line(m: dict[str, Any]) -> str:
    return f"{describe(m)} | scikit-learn {m['scikit_learn']} | spaCy {m['spacy']}"


# --------------------------------------------------------------------------------------- measuring
def timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, list[float]]:
    """fn's last result and the seconds of each of `repeats` calls."""
    seconds, result = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - t0)
    return result, seconds


def metrics_of(report: dict[str, Any]) -> dict[str, float]:
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def fit_minutes(run_dir: Path) -> float | None:
    """The trainer's own clock at its last metrics record (training + its evaluations), in minutes."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return None
    last = None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            last = json.loads(line).get("time", last)
        except ValueError:
            continue
    return None if last is None else last / 60


def run_tfidf(train_source: str, corpus: str, test_texts: list[str], y_test: np.ndarray, labels: list[str],
              repeats: int) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    x_train_texts, y_train_raw = read_texts(train_source)
    x_valid_texts, y_valid_raw = read_texts(f"{corpus}:valid")
    index = {label: i for i, label in enumerate(labels)}
    y_train = np.array([index[y] for y in y_train_raw])
    y_valid = np.array([index[y] for y in y_valid_raw])

    t0 = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    x_train = vectorizer.fit_transform(x_train_texts)
    x_valid = vectorizer.transform(x_valid_texts)
    grid = []
    best = None
    for c in TFIDF_C_GRID:
        t1 = time.perf_counter()
        clf = LogisticRegression(C=c, max_iter=1000).fit(x_train, y_train)
        probs = clf.predict_proba(x_valid)
        acc = float(classification_report(y_valid, probs, labels)["accuracy"])
        grid.append({"C": c, "valid_accuracy": acc, "fit_s": round(time.perf_counter() - t1, 3)})
        if best is None or acc > best[0]:
            best = (acc, c, clf)
    train_s = time.perf_counter() - t0
    assert best is not None
    _, best_c, clf = best
    log(f"tfidf: {x_train.shape[1]:,} features; valid accuracy by C: "
        + ", ".join(f"{g['C']}: {g['valid_accuracy']:.4f}" for g in grid) + f" -> C={best_c}")

    def predict(texts: list[str]) -> np.ndarray:
        return clf.predict_proba(vectorizer.transform(texts))

    predict(test_texts[:WARMUP_TEXTS])  # warm-up
    probs, seconds = timed(lambda: predict(test_texts), repeats)
    report = classification_report(y_test, probs, labels)
    return {"model": "tfidf", **metrics_of(report), "train_min": train_s / 60, "fit_min": None,
            "predict_per_s": len(test_texts) / min(seconds), "predict_s": seconds,
            "predict_setup": "TfidfVectorizer.transform + LogisticRegression.predict_proba, all texts at once, 1 process",
            "details": {"C": best_c, "grid": grid, "features": int(x_train.shape[1]), "train_docs": len(x_train_texts),
                        "test_report": report}}


def run_neural(model: str, corpus: str, out: Path, train_source: str | None, args: argparse.Namespace,
               lm_run: str | None, test_texts: list[str], test_labels: list[str], threads: int,
               lm_backward_run: str | None = None) -> dict[str, Any]:
    config_path, overrides = model_config(model, corpus, train_source, args.max_minutes, lm_run,
                                          args.limit_train, args.epochs, lm_backward_run)
    run_dir = out / model
    fresh_run_dir(run_dir, args.overwrite)
    log(f"\n== {model}: {config_path.relative_to(ROOT)} " + " ".join(f"--set {o}" for o in overrides))
    config = load_job_config(config_path, overrides)
    torch.set_num_threads(threads)  # a config's train.num_threads must not leak into the next model
    t0 = time.perf_counter()
    result = train_classifier(config, run_dir, progress=False)
    train_s = time.perf_counter() - t0
    test_report = result.reports.get("test")
    row = measure_prediction(model, run_dir, args, test_texts, test_labels, threads)
    predictor_report = row["details"].pop("predictor_report")
    agree = test_report is not None and abs(test_report["accuracy"] - predictor_report["accuracy"]) < 1e-9
    if not agree:
        log(f"WARNING {model}: the Predictor on raw test texts gives accuracy {predictor_report['accuracy']:.4f}, "
            f"the training-time test report {test_report['accuracy'] if test_report else float('nan'):.4f}")
    metrics = metrics_of(test_report) if test_report is not None else metrics_of(predictor_report)
    row.update(metrics, train_min=train_s / 60, fit_min=fit_minutes(run_dir))
    row["details"].update({"config": str(config_path.relative_to(ROOT)), "overrides": overrides,
                           "stop_reason": result.fit.stop_reason, "steps": result.fit.step, "epochs": result.fit.epoch,
                           "best_step": result.fit.best_step,
                           "valid": metrics_of(result.reports["valid"]) if "valid" in result.reports else None,
                           "predictor_test": metrics_of(predictor_report), "predictor_agrees_with_eval": agree,
                           "test_report": test_report})
    return row


def measure_prediction(model: str, run_dir: Path, args: argparse.Namespace, test_texts: list[str],
                       test_labels: list[str], threads: int) -> dict[str, Any]:
    """Prediction throughput of a trained run's best checkpoint with Predictor.predict on the raw test
    texts (after a warm-up call); details.predictor_report holds the metrics of what it predicted."""
    torch.set_num_threads(threads)
    predictor = Predictor.load(run_dir, precision=args.precision)
    labels = predictor.labels.labels
    index = {label: i for i, label in enumerate(labels)}
    y_test = np.array([index[y] for y in test_labels])
    workers = auto_workers(len(test_texts), args.predict_workers)
    predictor.predict(test_texts[:WARMUP_TEXTS], batch_size=args.predict_batch_size, workers=args.predict_workers)
    out_rows, seconds = timed(lambda: predictor.predict(test_texts, batch_size=args.predict_batch_size,
                                                        workers=args.predict_workers), args.repeats)
    probs = np.array([[row["probs"][n] for n in labels] for row in out_rows])
    n_params = sum(p.numel() for p in predictor.model.parameters())
    return {"model": model, "predict_per_s": len(test_texts) / min(seconds), "predict_s": seconds,
            "predict_setup": f"Predictor.predict(batch_size={args.predict_batch_size}, workers={args.predict_workers} "
                             f"-> {workers} pipeline process(es)), then the model on {threads} torch thread(s)"
                             + ("" if args.precision == "fp32" else f" in {args.precision} autocast"),
            "details": {"run_dir": str(run_dir), "parameters": n_params,
                        "predictor_report": classification_report(y_test, probs, labels)}}


def remeasure_prediction(model: str, previous: dict[str, Any], out: Path, args: argparse.Namespace,
                         test_texts: list[str], test_labels: list[str], threads: int) -> dict[str, Any]:
    """--predict-only: the earlier row of `model` with its prediction throughput measured again."""
    if model not in previous:
        raise SystemExit(f"--predict-only: {out / 'results.json'} has no row for {model}; train it first")
    fresh = measure_prediction(model, out / model, args, test_texts, test_labels, threads)
    report = fresh["details"].pop("predictor_report")
    row = previous[model]
    if args.precision != "fp32":  # a lower precision may move a few decisions: keep what it scores
        row["details"][f"predict_{args.precision}"] = metrics_of(report)
        log(f"-- {model} in {args.precision}: accuracy {report['accuracy']:.4f} (fp32: {row['accuracy']:.4f})")
    elif abs(report["accuracy"] - row["accuracy"]) > 1e-9:
        raise SystemExit(f"--predict-only: {model} now predicts accuracy {report['accuracy']:.4f}, the earlier row "
                         f"says {row['accuracy']:.4f}: the run directory changed")
    row.update(predict_per_s=fresh["predict_per_s"], predict_s=fresh["predict_s"], predict_setup=fresh["predict_setup"])
    row["details"]["predict_remeasured"] = time.strftime("%Y-%m-%d %H:%M")
    return row


# --------------------------------------------------------------------------------------- output
def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | accuracy | macro-F1 | train min | predict reviews/s |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {fmt(r['accuracy'], '.4f')} | {fmt(r['macro_f1'], '.4f')} | "
                     f"{fmt(r['train_min'], '.2f')} | {fmt(r['predict_per_s'], ',.0f')} |")
    return "\n".join(lines)


def target_checks(corpus: str, rows: dict[str, dict[str, Any]], limit_train: int | None = None) -> list[dict[str, Any]]:
    checks = []

    def add(name: str, ok: bool | None, detail: str) -> None:
        checks.append({"target": name, "met": ok, "detail": detail})

    b = rows.get("bilstm_glove")
    if limit_train is not None:
        add(f"bilstm_glove accuracy >= {TARGET_BILSTM_ACCURACY:.0%}", None,
            f"a target for the whole training split; trained on {limit_train:,} documents here")
    elif corpus == "imdb":
        add(f"bilstm_glove accuracy >= {TARGET_BILSTM_ACCURACY:.0%}", None if b is None else b["accuracy"] >= TARGET_BILSTM_ACCURACY,
            "not run" if b is None else f"{b['accuracy']:.4f}")
    else:
        add(f"bilstm_glove accuracy >= {TARGET_BILSTM_ACCURACY:.0%}", None,
            "an IMDB target; " + ("not run" if b is None else f"{b['accuracy']:.4f} on Rotten Tomatoes sentences"))
    lm, tf = rows.get("lm_transfer"), rows.get("tfidf")
    add("lm_transfer accuracy > tfidf accuracy", None if lm is None or tf is None else lm["accuracy"] > tf["accuracy"],
        "not run" if lm is None or tf is None else f"{lm['accuracy']:.4f} vs {tf['accuracy']:.4f}")
    for name, r in rows.items():
        if name != "tfidf":
            add(f"{name} prediction >= {TARGET_THROUGHPUT:.0f} reviews/s", r["predict_per_s"] >= TARGET_THROUGHPUT,
                f"{r['predict_per_s']:,.0f}/s ({r['predict_setup']})")
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=("imdb", "rotten-tomatoes"), default="imdb")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="run these, in this order")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="train.max_minutes of every neural model (default: each config's own)")
    parser.add_argument("--lm-run", default=None, help="existing `textseq train-lm` run dir for lm_transfer")
    parser.add_argument("--lm-backward-run", default=None,
                        help="existing backward (model.direction: backward) LM run dir for lm_transfer")
    parser.add_argument("--lm-directions", choices=("forward", "both"), default=None,
                        help="LMs lm_transfer starts from: the forward one, or forward and backward (default: "
                             "what configs/sentiment/imdb_lm_transfer.yaml names)")
    parser.add_argument("--lm-minutes", type=float, default=None,
                        help=f"train.max_minutes of the LM trained without --lm-run (default: --max-minutes, "
                             f"else {LM_DOCUMENTED_MINUTES:g} as documented)")
    parser.add_argument("--out", default="runs/bench-sentiment", help="output directory")
    parser.add_argument("--overwrite", action="store_true", help="replace existing run directories under --out")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout (logs on stderr)")
    parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                        help="train on the first N labelled training documents only (small label counts; smoke "
                             f"tests): neural models then train --epochs (default {SMALL_DATA_EPOCHS}) epochs, "
                             "evaluated once per epoch")
    parser.add_argument("--epochs", type=int, default=None, help="train.max_epochs of every neural model")
    parser.add_argument("--predict-batch-size", type=int, default=PREDICT_BATCH, help="Predictor.predict batch_size")
    parser.add_argument("--predict-workers", type=int, default=0,
                        help="Predictor.predict workers (0 = textseq's automatic choice)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for training and prediction (default: torch's own choice, the cores)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="Predictor precision for the prediction measurement (bf16: autocast, CPU too)")
    parser.add_argument("--repeats", type=int, default=1, help="timed prediction passes (the fastest is reported)")
    parser.add_argument("--predict-only", action="store_true",
                        help="train nothing: measure prediction throughput again for the neural --models of an "
                             "earlier run under --out (e.g. on a quieter machine) and update its results.json")
    args = parser.parse_args()

    out = (Path(args.out) if Path(args.out).is_absolute() else Path.cwd() / args.out) / args.corpus
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(ROOT)  # the configs name their pipelines relative to the checkout
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine()
    threads = torch.get_num_threads()
    log(f"machine: {machine_line(info)}")

    train_source = limited_train(args.corpus, args.limit_train, out) if args.limit_train else None
    test_texts, test_labels = read_texts(f"{args.corpus}:test")
    labels = sorted(set(test_labels))  # neg, pos: the order textseq's LabelSet uses for these corpora
    y_test = np.array([labels.index(y) for y in test_labels])
    log(f"{args.corpus}: test split {len(test_texts):,} documents; training on "
        f"{train_source or args.corpus + ':train'}")

    results: dict[str, Any] = {"benchmark": "sentiment", "corpus": args.corpus, "machine": info,
                               "argv": sys.argv[1:], "limit_train": args.limit_train, "test_documents": len(test_texts),
                               "models": []}
    rows: dict[str, dict[str, Any]] = {}
    previous: dict[str, dict[str, Any]] = {}
    if args.predict_only:
        earlier = json.loads((out / "results.json").read_text(encoding="utf-8"))
        previous = {r["model"]: r for r in earlier["models"]}
        results = {**earlier, "predict_machine": info, "predict_argv": sys.argv[1:]}
        rows = dict(previous)

    def save() -> None:
        results["checks"] = target_checks(args.corpus, rows, args.limit_train)
        (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")

    for model in args.models:
        if args.predict_only:
            if model != "tfidf":  # TF-IDF keeps no model on disk; its row stays as it was
                rows[model] = remeasure_prediction(model, previous, out, args, test_texts, test_labels, threads)
                log(f"-- {model}: predict {rows[model]['predict_per_s']:,.0f} reviews/s (measured again)")
            results["models"] = list(rows.values())
            save()
            continue
        if model == "tfidf":
            log("\n== tfidf: TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2) + LogisticRegression")
            row = run_tfidf(train_source or f"{args.corpus}:train", args.corpus, test_texts, y_test, labels, args.repeats)
        else:
            lm_run = lm_backward_run = None
            if model in ("lm_transfer", "lm_scratch"):
                lm_run = language_model(results, "lm", args.lm_run, args, out)
            if model == "lm_transfer" and lm_directions(args) == "both":
                lm_backward_run = language_model(results, "lm_backward", args.lm_backward_run, args, out)
            row = run_neural(model, args.corpus, out, train_source, args, lm_run, test_texts, test_labels, threads,
                             lm_backward_run)
            if model == "lm_transfer":
                row["details"]["lm_train_min"] = results["lm"]["train_min"]
                if lm_backward_run:
                    row["details"]["lm_backward_train_min"] = results["lm_backward"]["train_min"]
        rows[model] = row
        results["models"].append(row)
        log(f"-- {model}: accuracy {row['accuracy']:.4f} | macro_f1 {row['macro_f1']:.4f} | train {row['train_min']:.2f} min | "
            f"predict {row['predict_per_s']:,.0f} reviews/s")
        save()

    save()
    say = log if args.json else print
    say(f"\nmachine: {machine_line(info)}")
    say(f"corpus: {args.corpus}, test split ({len(test_texts):,} documents); trained on "
        f"{train_source or args.corpus + ':train'}" + (f"; train.max_minutes={args.max_minutes}" if args.max_minutes else ""))
    say("")
    say(table(results["models"]))
    say("")
    for r in results["models"]:
        say(f"- {r['model']}: predict with {r['predict_setup']}; passes {', '.join(f'{s:.2f}s' for s in r['predict_s'])}"
            + (f"; trainer clock {r['fit_min']:.2f} min, stopped by {r['details']['stop_reason']} at step "
               f"{r['details']['steps']} (best {r['details']['best_step']})" if r["model"] != "tfidf" else
               f"; C={r['details']['C']}"))
    for key, what in (("lm", "LM"), ("lm_backward", "backward LM")):
        if key in results:
            lm = results[key]
            say(f"- {what} for transfer: {lm['run_dir']}"
                + (f", trained here in {lm['train_min']:.2f} min" if lm["train_min"] else ""))
    say("\ntargets:")
    for c in results["checks"]:
        mark = {True: "MET", False: "NOT MET", None: "n/a"}[c["met"]]
        say(f"  [{mark}] {c['target']}: {c['detail']}")
    say(f"\nresults: {out / 'results.json'}")
    if args.json:
        print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
