"""Intrinsic evaluation on the benchmarks shipped inside gensim (gensim/test/test_data):

    questions-words.txt  19,544 analogies (Mikolov et al. 2013): 8,869 semantic, 10,675 syntactic;
                         accuracy by 3CosAdd over the `restrict_vocab` most frequent words
    wordsim353.tsv       353 word pairs with human similarity scores (Finkelstein et al. 2002)
    simlex999.txt        999 pairs scored for similarity, not relatedness (Hill et al. 2016)

Both pair files are tab-separated with '#' comment lines. gensim does the scoring; this module
adds the coverage of each benchmark (questions or pairs actually answerable), since a score on 40%
of a benchmark is not comparable with a score on all of it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from textseq.embeddings.vectors import Vectors

PAIR_BENCHMARKS = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
ANALOGY_FILE = "questions-words.txt"


def benchmark_path(name: str) -> Path:
    """The path of a benchmark file inside the installed gensim."""
    from gensim.test.utils import datapath

    return Path(datapath(name))


def _pair_coverage(vectors: Vectors, path: Path, restrict_vocab: int, lowercase: bool) -> tuple[int, int]:
    """(pairs with both words among the first `restrict_vocab` words, all pairs) of a tab-separated file."""
    fold = str.upper if lowercase else (lambda w: w)
    known = {fold(w) for w in vectors.words[:restrict_vocab]}
    used = total = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if line.startswith("#") or len(parts) != 3:
                continue
            total += 1
            used += fold(parts[0]) in known and fold(parts[1]) in known
    return used, total


def analogy_accuracy(vectors: Vectors, path: str | Path, restrict_vocab: int = 300000, lowercase: bool = True,
                     batch: int = 256) -> dict[str, Any]:
    """3CosAdd accuracy on a questions-words style file, as gensim's `evaluate_word_analogies` scores
    it (same vocabulary restriction, case folding and tie rule), but batched: gensim answers one
    question at a time and takes ~7 minutes on 2 cores for GloVe 6B; this takes seconds.

    Candidates are the `restrict_vocab` first words; a question is skipped (and lowers coverage)
    when any of its four words is outside them; the answer is the best candidate whose (folded)
    word is none of the three inputs."""
    import torch

    n = min(restrict_vocab, len(vectors))
    fold = str.upper if lowercase else (lambda w: w)
    keys = [fold(w) for w in vectors.words[:n]]
    ok: dict[str, int] = {}
    for i in range(n - 1, -1, -1):  # the most frequent spelling wins, as in gensim
        ok[keys[i]] = i
    questions: list[tuple[str, int, int, int, int]] = []  # (section, a, b, c, expected) row ids
    total, section = 0, ""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(":"):
                section = line[1:].strip()
                continue
            parts = [fold(w) for w in line.split()]
            if len(parts) != 4:
                continue
            total += 1
            if all(p in ok for p in parts):
                questions.append((section, *(ok[p] for p in parts)))
    normed = torch.from_numpy(vectors.normalized()[:n])  # (n, D)
    correct = {name: 0 for name in ("semantic", "syntactic")}
    asked = dict(correct)
    for start in range(0, len(questions), batch):
        chunk = questions[start:start + batch]
        ids = torch.tensor([q[1:] for q in chunk], dtype=torch.long)  # (B, 4)
        target = normed[ids[:, 1]] - normed[ids[:, 0]] + normed[ids[:, 2]]  # b - a + c, (B, D)
        sims = target @ normed.T  # (B, n); the target's length does not change the ranking
        sims.scatter_(1, ids[:, :3], float("-inf"))
        top = torch.topk(sims, k=min(5, n), dim=1).indices.tolist()
        for (sec, a, b, c, expected), cands in zip(chunk, top):
            inputs = {keys[a], keys[b], keys[c]}
            predicted = next((keys[i] for i in cands if keys[i] not in inputs), None)
            kind = "syntactic" if sec.startswith("gram") else "semantic"
            asked[kind] += 1
            correct[kind] += predicted == keys[expected]
    result: dict[str, Any] = {}
    for name in ("semantic", "syntactic"):
        result[name] = {"accuracy": correct[name] / asked[name] if asked[name] else None, "correct": correct[name],
                        "questions": asked[name]}
    used, right = sum(asked.values()), sum(correct.values())
    result["overall"] = {"accuracy": right / used if used else None, "correct": right, "questions": used,
                         "coverage": used / total if total else 0.0}
    result["total_questions"] = total
    return result


def evaluate_vectors(vectors: Vectors, restrict_vocab: int = 300000, lowercase: bool = True) -> dict[str, Any]:
    """Analogy accuracy (overall, semantic, syntactic) and Spearman rho on WordSim-353 and SimLex-999.

    `lowercase` compares words case-insensitively (needed for uncased vectors such as GloVe 6B:
    the analogy file is capitalised). Coverage numbers say how much of each benchmark was usable."""
    analogy = analogy_accuracy(vectors, benchmark_path(ANALOGY_FILE), restrict_vocab, lowercase)
    kv = vectors.to_keyed_vectors()
    gensim_log = logging.getLogger("gensim.models.keyedvectors")
    level = gensim_log.level
    gensim_log.setLevel(logging.WARNING)  # gensim logs every pair file at INFO
    try:
        pairs: dict[str, Any] = {}
        for name, filename in PAIR_BENCHMARKS.items():
            path = benchmark_path(filename)
            used, total = _pair_coverage(vectors, path, restrict_vocab, lowercase)
            rho = None
            if used >= 3:  # gensim's Pearson needs two pairs; a rank correlation on fewer means nothing
                _pearson, spearman, _oov = kv.evaluate_word_pairs(str(path), delimiter="\t", restrict_vocab=restrict_vocab,
                                                                  case_insensitive=lowercase)
                rho = None if np.isnan(spearman[0]) else float(spearman[0])
            coverage = used / total if total else 0.0
            pairs[name] = {"spearman": rho, "pairs": used, "total_pairs": total, "coverage": coverage, "oov_ratio": 1 - coverage}
    finally:
        gensim_log.setLevel(level)
    return {"vectors": vectors.source, "words": len(vectors), "dim": vectors.dim, "restrict_vocab": restrict_vocab,
            "lowercase": lowercase, "analogy": analogy, "similarity": pairs}


def format_report(result: dict[str, Any]) -> str:
    """A small table of `evaluate_vectors` output."""
    def num(x: float | None, spec: str = ".3f") -> str:
        return "n/a" if x is None else format(x, spec)

    lines = [f"vectors: {result['vectors']} ({result['words']:,} words x {result['dim']}; "
             f"analogies over the {min(result['restrict_vocab'], result['words']):,} most frequent words)",
             f"{'benchmark':<24}{'score':>8}{'used':>9}{'of':>8}{'coverage':>10}"]
    a = result["analogy"]
    for name in ("overall", "semantic", "syntactic"):
        s = a[name]
        total = a["total_questions"] if name == "overall" else ""
        cov = num(s.get("coverage"), ".1%") if name == "overall" else ""
        lines.append(f"{'analogy ' + name + ' (acc)':<24}{num(s['accuracy']):>8}{s['questions']:>9,}{total!s:>8}{cov:>10}")
    for name, s in result["similarity"].items():
        lines.append(f"{name + ' (spearman)':<24}{num(s['spearman']):>8}{s['pairs']:>9,}{s['total_pairs']:>8}{num(s['coverage'], '.1%'):>10}")
    return "\n".join(lines)
