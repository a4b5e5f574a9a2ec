"""Benchmark evaluation: the batched analogy scorer agrees with gensim's one-question-at-a-time
scorer, pair scores agree with a direct Spearman computation, coverage is reported, and the real
GloVe 6B 50-d scores land in their known ranges."""

from __future__ import annotations

import numpy as np
import pytest

from textseq.embeddings.evaluate import analogy_accuracy, benchmark_path, evaluate_vectors, format_report
from textseq.embeddings.vectors import Vectors, load_vectors


def planted(noise: float, seed: int = 0) -> tuple[Vectors, str]:
    """Capital -> country and singular -> plural offsets plus noise, and a questions file over them."""
    rng = np.random.default_rng(seed)
    capitals = ["athens", "berlin", "paris", "rome", "madrid", "oslo", "cairo", "lima"]
    countries = ["greece", "germany", "france", "italy", "spain", "norway", "egypt", "peru"]
    sing = ["cat", "dog", "car", "tree", "house", "bird"]
    plur = ["cats", "dogs", "cars", "trees", "houses", "birds"]
    d = 16
    rows, words = [], []
    off_c, off_p = rng.standard_normal(d), rng.standard_normal(d)
    for a, b, off in [*zip(capitals, countries, [off_c] * 8), *zip(sing, plur, [off_p] * 6)]:
        base = rng.standard_normal(d)
        words += [a, b]
        rows += [base, base + off + noise * rng.standard_normal(d)]
    words += [f"filler{i}" for i in range(40)]
    rows += list(rng.standard_normal((40, d)) * 1.5)
    lines = [": capital-common-countries"]
    lines += [f"{a.title()} {b.title()} {c.title()} {e.title()}" for a, b in zip(capitals, countries)
              for c, e in zip(capitals, countries) if a != c]
    lines += [": gram8-plural"] + [f"{a} {b} {c} {e}" for a, b in zip(sing, plur) for c, e in zip(sing, plur) if a != c]
    lines += ["Athens Greece Atlantis Nowhere"]  # out of vocabulary: lowers coverage
    return Vectors(words, np.asarray(rows, dtype=np.float32)), "\n".join(lines) + "\n"


@pytest.mark.parametrize("noise", [0.0, 0.8, 1.6])
def test_batched_analogies_agree_with_gensim(tmp_path, noise):
    vectors, questions = planted(noise)
    path = tmp_path / "q.txt"
    path.write_text(questions, encoding="utf-8")
    ours = analogy_accuracy(vectors, path, restrict_vocab=1000, batch=7)  # odd batch: exercises the tail
    _, sections = vectors.to_keyed_vectors().evaluate_word_analogies(str(path), restrict_vocab=1000, case_insensitive=True)
    by_name = {s["section"]: s for s in sections}
    assert ours["semantic"]["correct"] == len(by_name["capital-common-countries"]["correct"])
    assert ours["syntactic"]["correct"] == len(by_name["gram8-plural"]["correct"])
    assert ours["overall"]["questions"] == 8 * 7 + 6 * 5 and ours["total_questions"] == 8 * 7 + 6 * 5 + 1
    assert ours["overall"]["coverage"] == pytest.approx(86 / 87)
    if noise == 0.0:
        assert ours["overall"]["accuracy"] == 1.0
    if noise == 1.6:
        assert ours["overall"]["accuracy"] < 1.0  # the comparison above is not trivially all-correct


def test_restrict_vocab_limits_candidates_and_coverage(tmp_path):
    vectors, questions = planted(0.0)
    (tmp_path / "q.txt").write_text(questions, encoding="utf-8")
    few = analogy_accuracy(vectors, tmp_path / "q.txt", restrict_vocab=4)  # athens greece berlin germany
    assert few["overall"]["questions"] == 2 and few["overall"]["accuracy"] == 1.0


def test_pair_scores_match_a_direct_spearman():
    from scipy.stats import spearmanr

    pairs = [line.split("\t") for line in benchmark_path("wordsim353.tsv").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#")]
    words = sorted({w.lower() for a, b, _ in pairs for w in (a, b)})[:200] + ["padding"]
    rng = np.random.default_rng(0)
    vectors = Vectors(words, rng.standard_normal((len(words), 12)).astype(np.float32), {"source": "rand"})
    result = evaluate_vectors(vectors)
    ws = result["similarity"]["wordsim353"]
    covered = [(a.lower(), b.lower(), float(s)) for a, b, s in pairs if a.lower() in vectors and b.lower() in vectors]
    n = vectors.normalized()
    model = [float(n[vectors.index[a]] @ n[vectors.index[b]]) for a, b, _ in covered]
    assert ws["pairs"] == len(covered) and ws["total_pairs"] == 353
    assert ws["coverage"] == pytest.approx(len(covered) / 353)
    assert ws["spearman"] == pytest.approx(spearmanr([s for *_, s in covered], model)[0], abs=1e-6)
    assert result["similarity"]["simlex999"]["total_pairs"] == 999
    assert result["analogy"]["total_questions"] == 19544
    table = format_report(result)
    assert "wordsim353 (spearman)" in table and "analogy semantic (acc)" in table


@pytest.mark.slow
def test_real_glove_scores_are_in_published_ranges():
    from textseq.corpora import is_fetched

    if not is_fetched("glove-6b-50d"):
        pytest.skip("glove-6b-50d is not fetched (run `textseq corpora fetch glove-6b-50d`)")
    r = evaluate_vectors(load_vectors("glove-6b-50d"))
    # measured: analogy 0.464 (semantic 0.488, syntactic 0.444) on 19,486 of 19,544 questions,
    # wordsim353 rho 0.503 (353 pairs), simlex999 rho 0.263 (998 pairs); gensim's own scorer agrees
    assert 0.40 <= r["analogy"]["overall"]["accuracy"] <= 0.55
    assert 0.40 <= r["analogy"]["semantic"]["accuracy"] <= 0.60 and 0.35 <= r["analogy"]["syntactic"]["accuracy"] <= 0.55
    assert r["analogy"]["overall"]["coverage"] > 0.99
    assert 0.45 <= r["similarity"]["wordsim353"]["spearman"] <= 0.60 and r["similarity"]["wordsim353"]["pairs"] == 353
    assert 0.20 <= r["similarity"]["simlex999"]["spearman"] <= 0.33 and r["similarity"]["simlex999"]["pairs"] >= 998
