"""Word embeddings: textseq's GloVe against Word2Vec and FastText (gensim), speed and quality.

All three are trained on one corpus, IMDB train reviews followed by the Shakespeare train plays,
with the same dimension, epochs, window, min_count and number of threads. The token file is
built once, through textseq's own path: `prepare_token_file` with the pipeline and cache that
`train_embeddings` uses (configs/preprocess/embeddings.yaml, <cache>/embeddings/tokens-*.txt).
Every method then runs through `train_embeddings` on that same cached file, starting from the
shipped configs (configs/embed/{glove,word2vec,fasttext}.yaml, so GloVe keeps its x_max=10 for
small corpora) with the shared settings overridden.

Besides the textseq runs, gensim's Word2Vec and FastText are also called directly on the same
token file (`corpus_file=`, the same parameters and workers, written out here independently of
textseq's wrapper): build_vocab, then train() timed on its own. Words/second is gensim's own
measure in both cases: the effective words train() returns divided by the wall time of that
call. Each round runs direct and textseq back to back, alternating which goes first; the tables
show medians over rounds, and the ratio is the median of the per-round ratios.

GloVe reports the vocabulary + co-occurrence counting time and updates (non-zero entries
processed) per second. Per core is measured twice: a second GloVe run with one thread (one core
doing all the work: the target's figure), and the --workers run's updates/s divided by its Hogwild
threads (how well two threads share the memory-bound table updates; not the target's figure).

The textseq and direct gensim paths differ only outside the timed train() call (textseq adds an
epoch callback that updates a disabled progress bar, and writes its files afterwards); with
--rounds 1 the order is fixed (direct first), so take speed ratios from --rounds 2 or more.

Every result is scored with `evaluate_vectors` (analogy accuracy on questions-words.txt,
Spearman rho on WordSim-353 and SimLex-999, each with its coverage), the trained ones from the
last round, next to the real GloVe 6B 50-d vectors as a reference.

Targets (the issue): GloVe >= 1M updates/s per core; GloVe's three scores >= 0.9 x Word2Vec's;
textseq's Word2Vec and FastText >= 0.95 x gensim's own words/second.

    .venv/bin/python benchmarks/embeddings.py [--dim 100] [--epochs 5] [--window 5] [--min-count 5]
        [--max-tokens N] [--rounds 2] [--workers 2] [--out DIR] [--json [PATH]] [--no-reference]

Smoke test (about a minute on 2 cores, most of it evaluating GloVe 6B):
    --max-tokens 200000 --epochs 1 --dim 50 --rounds 1
With --out, <out>/fasttext/fasttext.bin is kept: bucket x dim x 4 bytes (800 MB at dim 100).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from common import machine_info

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "embed"
CORPUS = ["imdb:train", "shakespeare:train"]
METHODS = ("glove", "word2vec", "fasttext")
GLOVE_UPDATES_PER_CORE = 1_000_000
SCORE_RATIO = 0.90
SPEED_RATIO = 0.95


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- machine
def machine() -> dict[str, Any]:
    import gensim
    import numpy

    import textseq

    return machine_info(gensim=gensim.__version__, numpy=numpy.__version__, textseq=textseq.__version__)


# ----------------------------------------------------------------------------- configs
def embed_config(method: str, args: argparse.Namespace, threads: int | None = None) -> Any:
    """The shipped configs/embed/<method>.yaml with the shared settings overridden."""
    from textseq.embeddings.train import load_embed_config

    m = method
    overrides = [f"corpus={json.dumps(CORPUS)}", f"max_tokens={args.max_tokens or 'null'}",
                 "max_documents=null", f"n_proc={args.n_proc}",
                 f"{m}.dim={args.dim}", f"{m}.epochs={args.epochs}", f"{m}.window={args.window}",
                 f"{m}.min_count={args.min_count}", f"{m}.max_vocab=null"]
    if method == "glove":
        overrides.append(f"glove.threads={threads or args.workers}")
    else:
        overrides += [f"{m}.arch=skipgram", f"{m}.workers={args.workers}"]
    return load_embed_config(CONFIGS / f"{method}.yaml", overrides)


def prepare_corpus(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """The token file, through the same function, pipeline and cache as train_embeddings."""
    from textseq.embeddings.train import _pipeline, prepare_token_file

    config = embed_config("glove", args)
    started = time.perf_counter()
    path, stats = prepare_token_file(config, _pipeline(config), progress=sys.stderr.isatty())
    return path, {**stats, "token_file": str(path), "prepare_seconds": round(time.perf_counter() - started, 3),
                  "bytes": path.stat().st_size}


# ----------------------------------------------------------------------------- runs
def run_textseq(method: str, args: argparse.Namespace, out: Path, token_file: Path,
                threads: int | None = None) -> dict[str, Any]:
    from textseq.embeddings.train import train_embeddings

    config = embed_config(method, args, threads)
    started = time.perf_counter()
    result = train_embeddings(config, out, progress=False)
    wall = time.perf_counter() - started
    meta = result.meta
    if Path(meta["token_file"]) != token_file:
        raise SystemExit(f"{method}: train_embeddings used {meta['token_file']}, not the prepared {token_file}")
    keys = ("training_seconds", "words_per_second", "effective_words", "raw_words", "threads", "vocab_size",
            "cooccurrence_seconds", "nonzero_entries", "updates", "updates_per_second",
            "updates_per_second_per_core", "losses", "preprocess_seconds")
    run = {k: meta[k] for k in keys if k in meta}
    run["wall_seconds"] = round(wall, 3)  # the whole train_embeddings call (vocab, saving files included)
    return run


def run_direct(method: str, args: argparse.Namespace, token_file: Path) -> tuple[dict[str, Any], Any]:
    """gensim called directly on the token file, with the parameters of the textseq config."""
    from gensim.models import FastText, Word2Vec

    cfg = embed_config(method, args).method_config()
    kwargs: dict[str, Any] = {"vector_size": cfg.dim, "window": cfg.window, "min_count": cfg.min_count, "sg": 1,
                              "negative": cfg.negative, "hs": 0, "sample": cfg.sample, "alpha": cfg.alpha,
                              "min_alpha": cfg.min_alpha, "seed": cfg.seed, "workers": args.workers,
                              "epochs": cfg.epochs}
    if method == "fasttext":
        kwargs.update(min_n=cfg.min_n, max_n=cfg.max_n, bucket=cfg.bucket)
    cls = FastText if method == "fasttext" else Word2Vec
    started = time.perf_counter()
    model = cls(**kwargs)
    model.build_vocab(corpus_file=str(token_file))
    t0 = time.perf_counter()
    effective, raw = model.train(corpus_file=str(token_file), total_examples=model.corpus_count,
                                 total_words=model.corpus_total_words, epochs=cfg.epochs)
    t1 = time.perf_counter()
    run = {"training_seconds": round(t1 - t0, 3), "words_per_second": round(effective / (t1 - t0)),
           "effective_words": int(effective), "raw_words": int(raw), "threads": model.workers,
           "vocab_size": len(model.wv), "wall_seconds": round(t1 - started, 3)}
    return run, model


def evaluate(vectors: Any) -> dict[str, Any]:
    from textseq.embeddings.evaluate import evaluate_vectors

    started = time.perf_counter()
    result = evaluate_vectors(vectors)
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def evaluate_dir(path: Path) -> dict[str, Any]:
    from textseq.embeddings.vectors import load_vectors

    return evaluate(load_vectors(path))


def evaluate_model(model: Any, name: str) -> dict[str, Any]:
    from textseq.embeddings.vectors import Vectors

    return evaluate(Vectors(list(model.wv.index_to_key), model.wv.vectors, {"source": name}))


# ----------------------------------------------------------------------------- summary
def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def scores(ev: dict[str, Any] | None) -> dict[str, Any]:
    if ev is None:
        return {}
    a = ev["analogy"]["overall"]
    s = ev["similarity"]
    return {"analogy": a["accuracy"], "analogy_coverage": a["coverage"],
            "wordsim353": s["wordsim353"]["spearman"], "wordsim353_coverage": s["wordsim353"]["coverage"],
            "simlex999": s["simlex999"]["spearman"], "simlex999_coverage": s["simlex999"]["coverage"]}


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b; None when either is missing or b <= 0 (a ratio to a non-positive score means nothing)."""
    return a / b if a is not None and b is not None and b > 0 else None


def fmt_score(x: float | None, cov: float | None) -> str:
    if cov is None:
        return ""
    return f"{'n/a' if x is None else format(x, '.3f')} ({cov:.0%})"


def fmt_check(name: str, value: float | None, target: float, unit: str = "x") -> str:
    if value is None:
        verdict, shown = "n/a", "n/a"
    else:
        verdict = "PASS" if value >= target else "FAIL"
        shown = f"{value:,.0f}" if unit == "" else f"{value:.3f}"
    goal = f">= {target:,.0f}" if unit == "" else f">= {target:.2f}"
    return f"  {name:<52}{shown:>12}  {goal:<13} {verdict}"


def summarize(results: dict[str, Any]) -> str:
    rows = results["rows"]
    lines = []
    m = results["machine"]
    c = results["corpus"]
    p = results["params"]
    lines.append(f"machine: {m['cpu']}, {m['cores']} cores; python {m['python']}, "
                 f"torch {m['torch']} ({m['torch_threads']} threads), gensim {m['gensim']}, numpy {m['numpy']}, "
                 f"textseq {m['textseq']}")
    lines.append(f"corpus: {' + '.join(CORPUS)} -> {c['documents']:,} documents, {c['tokens']:,} tokens "
                 f"({c['token_file']}; prepared/looked up in {c['prepare_seconds']:.1f} s)")
    lines.append(f"settings: dim {p['dim']}, epochs {p['epochs']}, window {p['window']}, min_count {p['min_count']}, "
                 f"{p['workers']} workers/threads, skip-gram, {p['rounds']} round(s); medians over rounds; "
                 f"scores of the last round")
    g = results["glove_counting"]
    lines.append(f"GloVe counting (vocabulary + co-occurrences): {g['seconds']:.1f} s, {g['nonzero_entries']:,} non-zero "
                 f"entries, vocabulary {g['vocab_size']:,}")
    lines.append("")
    head = f"{'method':<30}{'train s':>9}  {'speed':<24}{'analogy acc (cov)':>19}{'wordsim rho (cov)':>19}{'simlex rho (cov)':>19}"
    lines.append(head)
    lines.append("-" * len(head))
    for r in rows:
        sc = r.get("scores", {})
        train = "" if r.get("train_seconds") is None else f"{r['train_seconds']:.1f}"
        lines.append(f"{r['name']:<30}{train:>9}  {r.get('speed', ''):<24}"
                     f"{fmt_score(sc.get('analogy'), sc.get('analogy_coverage')):>19}"
                     f"{fmt_score(sc.get('wordsim353'), sc.get('wordsim353_coverage')):>19}"
                     f"{fmt_score(sc.get('simlex999'), sc.get('simlex999_coverage')):>19}")
    lines.append("")
    lines.append("targets:")
    t = results["targets"]
    lines.append(fmt_check("GloVe updates/s per core (one thread)", t["glove_updates_per_second_per_core"],
                           GLOVE_UPDATES_PER_CORE, ""))
    hog = t.get("glove_updates_per_second_per_core_hogwild")
    lines.append(f"  (not the target: with {p['workers']} Hogwild threads, {'n/a' if hog is None else f'{hog:,.0f}'} "
                 "updates/s per thread)")
    for key, label in (("analogy", "analogy accuracy"), ("wordsim353", "WordSim-353 rho"), ("simlex999", "SimLex-999 rho")):
        lines.append(fmt_check(f"GloVe / Word2Vec {label}", t[f"glove_over_word2vec_{key}"], SCORE_RATIO))
    for method, label in (("word2vec", "Word2Vec"), ("fasttext", "FastText")):
        lines.append(fmt_check(f"{label} words/s, textseq / gensim direct", t[f"{method}_speed_ratio"], SPEED_RATIO))
    lines.append("  (not a target; end-to-end speed, direct build_vocab+train wall / whole train_embeddings wall: "
                 + ", ".join(f"{k} {v:.3f}" for k, v in t["end_to_end_ratio"].items() if v is not None) + ")")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--window", type=int, default=5, help="context words each side, for all three")
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=None, help="cut the token file after this many tokens")
    ap.add_argument("--rounds", type=int, default=2, help="direct/textseq pairs per method (speed medians)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="gensim workers and GloVe torch threads")
    ap.add_argument("--n-proc", type=int, default=2, help="preprocessing processes (token file build only)")
    ap.add_argument("--out", type=Path, default=None, help="keep vectors here (<out>/<method>); default: a temp dir")
    ap.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                    help="write all results as JSON to PATH (no PATH or '-': to stdout, instead of the table)")
    ap.add_argument("--no-reference", action="store_true", help="skip evaluating GloVe 6B 50-d")
    args = ap.parse_args(argv)

    results: dict[str, Any] = {"machine": machine(), "corpus_sources": CORPUS,
                               "params": {"dim": args.dim, "epochs": args.epochs, "window": args.window,
                                          "min_count": args.min_count, "max_tokens": args.max_tokens,
                                          "rounds": args.rounds, "workers": args.workers}}
    log(f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores")
    log("token file: " + " + ".join(CORPUS) + (f" (max {args.max_tokens:,} tokens)" if args.max_tokens else ""))
    token_file, corpus = prepare_corpus(args)
    results["corpus"] = corpus
    log(f"token file ready: {corpus['documents']:,} documents, {corpus['tokens']:,} tokens, {corpus['prepare_seconds']:.1f} s")

    out = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="bench-embed-"))
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {"glove": [], "glove_1thread": [], "word2vec": [], "fasttext": [],
                                             "word2vec_direct": [], "fasttext_direct": []}
    evals: dict[str, dict[str, Any]] = {}
    try:
        for rnd in range(args.rounds):
            last = rnd == args.rounds - 1
            log(f"round {rnd + 1}/{args.rounds}: glove")
            runs["glove"].append(run_textseq("glove", args, out / "glove", token_file))
            g = runs["glove"][-1]
            log(f"  glove: counting {g['cooccurrence_seconds']:.1f} s, training {g['training_seconds']:.1f} s, "
                f"{g['updates_per_second_per_core']:,} updates/s/core")
            log(f"round {rnd + 1}/{args.rounds}: glove, one thread")
            runs["glove_1thread"].append(run_textseq("glove", args, out / "glove-1thread", token_file, threads=1))
            g = runs["glove_1thread"][-1]
            log(f"  glove, one thread: training {g['training_seconds']:.1f} s, {g['updates_per_second']:,} updates/s")
            for method in ("word2vec", "fasttext"):
                order = ("direct", "textseq") if rnd % 2 == 0 else ("textseq", "direct")
                for who in order:
                    log(f"round {rnd + 1}/{args.rounds}: {method} ({who})")
                    if who == "textseq":
                        runs[method].append(run_textseq(method, args, out / method, token_file))
                    else:
                        run, model = run_direct(method, args, token_file)
                        runs[f"{method}_direct"].append(run)
                        if last:
                            evals[f"{method}_direct"] = evaluate_model(model, f"gensim {method} (direct)")
                        del model
                    gc.collect()  # after either path: the next run starts without the last model's garbage
                    r = runs[method if who == "textseq" else f"{method}_direct"][-1]
                    log(f"  {method} ({who}): train {r['training_seconds']:.1f} s, {r['words_per_second']:,} words/s")
        for method in METHODS:
            log(f"evaluating {method}")
            evals[method] = evaluate_dir(out / method)
        if not args.no_reference:
            from textseq.embeddings.vectors import load_vectors

            log("evaluating GloVe 6B 50-d (reference)")
            evals["glove6b"] = evaluate(load_vectors("glove-6b-50d"))
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)

    # ---- medians and the table
    def med(name: str, key: str) -> float | None:
        return median([r.get(key) for r in runs[name]])

    results["runs"] = runs
    results["evaluations"] = evals
    glove_vocab = runs["glove"][-1].get("vocab_size", 0)
    results["glove_counting"] = {"seconds": med("glove", "cooccurrence_seconds"),
                                 "nonzero_entries": runs["glove"][-1]["nonzero_entries"], "vocab_size": glove_vocab}
    rows = [{"name": "GloVe (textseq)", "train_seconds": med("glove", "training_seconds"),
             "speed": f"{med('glove', 'updates_per_second_per_core'):,.0f} upd/s/core",
             "scores": scores(evals.get("glove"))},
            {"name": "GloVe (textseq, 1 thread)", "train_seconds": med("glove_1thread", "training_seconds"),
             "speed": f"{med('glove_1thread', 'updates_per_second'):,.0f} upd/s/core", "scores": {}}]
    labels = {"word2vec": "Word2Vec SG", "fasttext": "FastText SG"}
    for method in ("word2vec", "fasttext"):
        for name, suffix in ((method, "(textseq)"), (f"{method}_direct", "(gensim direct)")):
            rows.append({"name": f"{labels[method]} {suffix}", "train_seconds": med(name, "training_seconds"),
                         "speed": f"{med(name, 'words_per_second'):,.0f} words/s", "scores": scores(evals.get(name))})
    if "glove6b" in evals:
        rows.append({"name": "GloVe 6B 50-d (reference)", "train_seconds": None, "speed": "",
                     "scores": scores(evals["glove6b"])})
    results["rows"] = rows

    gs, ws = scores(evals.get("glove")), scores(evals.get("word2vec"))
    speed_ratio = {}
    end_to_end = {}
    for method in ("word2vec", "fasttext"):
        per_round = [ratio(t["words_per_second"], d["words_per_second"])
                     for t, d in zip(runs[method], runs[f"{method}_direct"])]
        speed_ratio[method] = median(per_round)
        end_to_end[method] = median([ratio(d["wall_seconds"], t["wall_seconds"])
                                     for t, d in zip(runs[method], runs[f"{method}_direct"])])
    results["targets"] = {
        "glove_updates_per_second_per_core": med("glove_1thread", "updates_per_second"),
        "glove_updates_per_second_per_core_hogwild": med("glove", "updates_per_second_per_core"),
        **{f"glove_over_word2vec_{k}": ratio(gs.get(k), ws.get(k)) for k in ("analogy", "wordsim353", "simlex999")},
        **{f"{m}_speed_ratio": v for m, v in speed_ratio.items()},
        "end_to_end_ratio": end_to_end,
    }
    table = summarize(results)
    if args.json == "-":
        print(json.dumps(results, indent=1, default=str))
    else:
        print(table)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
