"""embedding_matrix: rows aligned to the vocabulary, each OOV policy, coverage numbers, and the
no-overlap error that replaces a silent zero matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textseq.embeddings.align import Coverage, embedding_matrix
from textseq.embeddings.vectors import Vectors, load_vectors
from textseq.errors import ConfigError, InputError
from textseq.vocab import Vocab


@pytest.fixture
def vectors() -> Vectors:
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(500)] + ["the", "paris", "cat"]
    m = (rng.standard_normal((len(words), 8)) * np.linspace(0.5, 3, 8) + np.arange(8)).astype(np.float32)
    return Vectors(words, m, {"source": "toy.txt"})


@pytest.fixture
def vocab() -> Vocab:
    tokens = ["the"] * 50 + ["Paris"] * 7 + ["cat"] * 5 + ["zorp"] * 9 + ["blick"] * 3 + ["qux"] * 1 + [f"w{i}" for i in range(400)]
    return Vocab.build(tokens)


def test_exact_and_lowercase_rows_and_specials(vocab, vectors):
    emb, cov = embedding_matrix(vocab, vectors, oov="zeros")
    assert isinstance(emb, torch.Tensor) and emb.dtype == torch.float32 and emb.shape == (len(vocab), 8)
    np.testing.assert_array_equal(emb[vocab.stoi["the"]].numpy(), vectors.get("the"))
    np.testing.assert_array_equal(emb[vocab.stoi["Paris"]].numpy(), vectors.get("paris"))  # lower-cased fallback
    np.testing.assert_array_equal(emb[vocab.stoi["w7"]].numpy(), vectors.get("w7"))
    for special in ("<pad>", "<unk>", "<bos>", "<eos>"):
        assert emb[vocab.stoi[special]].abs().sum() == 0
    assert emb[vocab.stoi["zorp"]].abs().sum() == 0
    assert (cov.total, cov.found, cov.found_lowercase, cov.missing, cov.specials) == (406, 402, 1, 3, 4)
    assert cov.rate == pytest.approx(403 / 406)


def test_lowercase_fallback_can_be_disabled(vocab, vectors):
    emb, cov = embedding_matrix(vocab, vectors, oov="zeros", lowercase_fallback=False)
    assert cov.found_lowercase == 0 and cov.missing == 4 and emb[vocab.stoi["Paris"]].abs().sum() == 0


def test_coverage_lists_missing_words_by_frequency(vocab, vectors):
    _, cov = embedding_matrix(vocab, vectors, oov="zeros")
    assert cov.top_missing == [("zorp", 9), ("blick", 3), ("qux", 1)]
    total_tokens = 50 + 7 + 5 + 9 + 3 + 1 + 400
    assert cov.token_rate == pytest.approx(1 - 13 / total_tokens)
    line = cov.summary()
    assert "coverage 99.3% of 406 words (402 exact, 1 lower-cased)" in line and "zorp (9), blick (3), qux (1)" in line


def test_plain_word_list_keeps_order_without_counts(vectors):
    emb, cov = embedding_matrix(["cat", "nope", "the", "also-nope"], vectors, oov="zeros")
    assert emb.shape == (4, 8) and cov.top_missing == [("nope", None), ("also-nope", None)]
    assert "first missing: nope, also-nope" in cov.summary()


def test_random_oov_matches_the_scale_of_found_vectors(vectors):
    words = [f"w{i}" for i in range(500)] + [f"oov{i}" for i in range(3000)]
    emb, cov = embedding_matrix(words, vectors, oov="random", seed=3)
    found, rand = emb[:500].numpy(), emb[500:].numpy()
    assert cov.missing == 3000
    np.testing.assert_allclose(rand.mean(0), found.mean(0), atol=0.15)  # per-dimension mean...
    np.testing.assert_allclose(rand.std(0), found.std(0), rtol=0.1)  # ...and spread (0.5 .. 3 by design)
    again, _ = embedding_matrix(words, vectors, oov="random", seed=3)
    assert torch.equal(emb, again)  # seeded
    other, _ = embedding_matrix(words, vectors, oov="random", seed=4)
    assert not torch.equal(emb[500:], other[500:])


def test_no_overlap_is_an_error_not_a_zero_matrix(vectors):
    vocab = Vocab.build([f"mot{i}" for i in range(20)])
    with pytest.raises(InputError, match=r"none of the 20 vocabulary words are in vectors toy.txt .*first vocabulary words: 'mot0'.*first vector words: 'w0'"):
        embedding_matrix(vocab, vectors)
    with pytest.raises(InputError, match="no words besides its 4 specials"):
        embedding_matrix(Vocab.build([]), vectors)


def test_specials_oov_policy(vocab, vectors):
    emb, _ = embedding_matrix(vocab, vectors, oov="random", specials="oov")
    assert emb[vocab.pad_id].abs().sum() == 0  # padding stays zero whatever the policy
    assert emb[vocab.unk_id].abs().sum() > 0 and emb[vocab.bos_id].abs().sum() > 0


def test_subword_policy_uses_fasttext_ngrams(tmp_path):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    sentences = [["walking", "talking", "walked", "talked", "dog"], ["running", "jumping", "dog", "walks"]] * 20
    model = FastText(sentences, vector_size=10, min_count=1, epochs=2, bucket=5000, seed=0, workers=1)
    save_facebook_model(model, str(tmp_path / "ft.bin"))
    ft = load_vectors(tmp_path / "ft.bin")
    emb, cov = embedding_matrix(["dog", "jumped", "talks"], ft, oov="subword")
    assert cov.missing == 2 and cov.oov == "subword"
    np.testing.assert_allclose(emb[1].numpy(), model.wv["jumped"], rtol=1e-5, atol=1e-6)
    assert emb[2].abs().sum() > 0


def test_subword_policy_needs_subwords(vocab, vectors):
    with pytest.raises(ConfigError, match="needs fastText vectors with subword n-grams"):
        embedding_matrix(vocab, vectors, oov="subword")


def test_charngram_policy_calls_the_module(vocab, vectors):
    calls = []

    def module(words):
        calls.append(list(words))
        return torch.full((len(words), 8), 2.5)

    emb, _ = embedding_matrix(vocab, vectors, oov="charngram", charngram_module=module)
    assert calls == [["zorp", "blick", "qux"]] and emb[vocab.stoi["zorp"]].tolist() == [2.5] * 8
    with pytest.raises(InputError, match="returned shape"):
        embedding_matrix(vocab, vectors, oov="charngram", charngram_module=lambda ws: torch.zeros(len(ws), 3))
    with pytest.raises(ConfigError, match="needs charngram_module"):
        embedding_matrix(vocab, vectors, oov="charngram")


def test_charngram_policy_with_the_project_module(vocab, vectors):
    charngram = pytest.importorskip("textseq.embeddings.charngram")
    module = charngram.CharNgramEmbedding(8)
    emb, cov = embedding_matrix(vocab, vectors, oov="charngram", charngram_module=module)
    assert cov.missing == 3 and emb[vocab.stoi["zorp"]].abs().sum() > 0 and not emb.requires_grad


def test_unknown_policy_names(vocab, vectors):
    with pytest.raises(ConfigError, match="unknown oov policy 'gaussian'"):
        embedding_matrix(vocab, vectors, oov="gaussian")
    with pytest.raises(ConfigError, match="unknown specials policy"):
        embedding_matrix(vocab, vectors, specials="random")


def test_coverage_rate_of_empty_is_zero():
    assert Coverage(total=0, found=0, found_lowercase=0, missing=0, oov="zeros").rate == 0.0


def test_real_glove_coverage_of_a_cased_vocab():
    from textseq.corpora import is_fetched

    if not is_fetched("glove-6b-50d"):
        pytest.skip("glove-6b-50d is not fetched")
    glove = load_vectors("glove-6b-50d")
    vocab = Vocab.build("The cat sat on the mat in Paris with Zorpglax and qwxzv".split())
    emb, cov = embedding_matrix(vocab, glove, oov="random")
    assert cov.found_lowercase == 2 and cov.top_missing[0][0] in {"Zorpglax", "qwxzv"} and cov.missing == 2
    np.testing.assert_array_equal(emb[vocab.stoi["Paris"]].numpy(), glove.get("paris"))
