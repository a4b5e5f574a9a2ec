"""Character n-gram embeddings: n-grams with markers, fastText's hash, EmbeddingBag, FastText OOV."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import ODD_TEXTS
from textseq.embeddings.charngram import (
    CharNgramEmbedding,
    FastTextOOV,
    char_ngrams,
    fasttext_vector,
    ft_hash,
    ft_hash_batch,
)

# Computed once by this module's hash (fastText's FNV-1a) with buckets=2**18; must never change,
# or every saved CharNgramEmbedding would silently map words to other rows.
EXPECTED_IDS = {
    "where": [115940, 22291, 101811, 149474, 14925, 241965, 5208, 7314, 36236, 222667, 98479, 232137, 246485, 56362, 204628],
    "naïve": [78506, 262124, 221038, 171601, 53522, 106604, 192043, 51983, 206816, 210527, 170675, 199378, 143748, 54158, 223421],
}


def test_ngrams_of_where_with_markers():
    assert char_ngrams("where", 3, 3) == ["<wh", "whe", "her", "ere", "re>", "<where>"]
    assert char_ngrams("where", 3, 3, include_word=False) == ["<wh", "whe", "her", "ere", "re>"]
    assert char_ngrams("a", 3, 6) == ["<a>"]  # the whole word is not added twice
    assert "<" not in char_ngrams("ab", 1, 2)  # bare markers are not n-grams (as fastText)


@pytest.mark.parametrize("text", ["<wh", "where", "é", "日本語", "", "\U0001f44d\U0001f3fd", "a\x00b", "Straße"])
def test_hash_equals_fasttext_as_in_gensim(text):
    from gensim.models.fasttext_inner import ft_hash_bytes

    data = text.encode("utf-8")
    assert ft_hash(data) == ft_hash_bytes(data)
    assert int(ft_hash_batch([data, b"x"])[0]) == ft_hash(data)


def test_ids_are_fixed_and_the_same_in_another_process():
    m = CharNgramEmbedding(4, buckets=2**18)
    for word, ids in EXPECTED_IDS.items():
        assert m.ngram_ids(word).tolist() == ids
    code = ("from textseq.embeddings.charngram import CharNgramEmbedding as C; "
            "print(C(4, buckets=2**18).ngram_ids('where').tolist())")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # Python's own str hash would change with this
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == str(EXPECTED_IDS["where"])


def test_gradients_flow_only_to_the_words_ngrams():
    m = CharNgramEmbedding(6, buckets=1000)
    out = m(["where", "here"])  # (2, 6)
    assert out.shape == (2, 6)
    out.sum().backward()
    grad = m.bag.weight.grad
    touched = set(m.ngram_ids("where").tolist()) | set(m.ngram_ids("here").tolist())
    assert set(torch.nonzero(grad.abs().sum(1)).flatten().tolist()) == touched


def test_mean_is_sum_divided_by_the_ngram_count():
    s = CharNgramEmbedding(5, buckets=500, mode="sum")
    m = CharNgramEmbedding(5, buckets=500, mode="mean")
    m.load_state_dict(s.state_dict())
    words = ["where", "a", "naïve"]
    counts = torch.tensor([len(s.ngram_ids(w)) for w in words], dtype=torch.float32)
    torch.testing.assert_close(m(words), s(words) / counts[:, None])
    offsets, ids = s.encode(words)
    torch.testing.assert_close(s.forward_ids(offsets, ids), s(words))


def test_odd_inputs_give_finite_vectors():
    m = CharNgramEmbedding(4, buckets=1 << 12)
    words = [w for text in ODD_TEXTS.values() for w in (text, *text.split())]
    out = m(words)
    assert out.shape == (len(words), 4) and torch.isfinite(out).all()


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError):
        CharNgramEmbedding(4, n_min=5, n_max=3)
    with pytest.raises(ValueError):
        CharNgramEmbedding(4, mode="max")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fasttext_kv(tmp_path_factory):
    from gensim.models import FastText
    from gensim.models.fasttext import load_facebook_vectors, save_facebook_model

    rng = np.random.default_rng(0)
    words = ["walk", "walked", "walking", "talk", "talked", "talking", "run", "running"]
    sentences = [list(rng.choice(words, size=10)) for _ in range(200)]
    model = FastText(sentences, vector_size=12, min_count=1, min_n=3, max_n=5, bucket=2000, epochs=2, workers=1, seed=1)
    path = tmp_path_factory.mktemp("ft") / "fasttext.bin"
    save_facebook_model(model, str(path))
    return load_facebook_vectors(str(path)), path


def test_fasttext_gives_any_string_a_vector(fasttext_kv):
    kv, path = fasttext_kv
    oov = FastTextOOV.load(path)
    assert "talks" not in kv.key_to_index
    vec = oov("talks")
    assert vec.shape == (12,) and np.abs(vec).sum() > 0
    np.testing.assert_allclose(oov("walk"), kv["walk"])
    assert not oov("").any() and not fasttext_vector(kv, "").any()  # no n-grams at all: the origin
    assert fasttext_vector(kv, "x").any()  # "<x>" is a 3-gram
    assert oov.vectors(["talks", "", "walk"]).shape == (3, 12)


def test_module_from_fasttext_reproduces_oov_vectors(fasttext_kv):
    kv, _ = fasttext_kv
    m = CharNgramEmbedding.from_fasttext(kv)
    words = ["talks", "walkers", "runs"]
    np.testing.assert_allclose(m(words).detach().numpy(), np.stack([kv[w] for w in words]), rtol=1e-5, atol=1e-6)
    assert m.bag.weight.requires_grad
