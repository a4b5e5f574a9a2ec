"""Word2Vec and FastText through gensim's corpus_file path; saved without pickles."""

from __future__ import annotations

import numpy as np
import pytest

from textseq.embeddings.gensim_train import (
    FastTextConfig,
    Word2VecConfig,
    save_fasttext_bin,
    train_fasttext,
    train_word2vec,
)
from textseq.errors import InputError

PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    words = ["walk", "walked", "walking", "talk", "talked", "talking", "run", "running", "the", "a"]
    path = tmp_path_factory.mktemp("corpus") / "tokens.txt"
    path.write_text("".join(" ".join(rng.choice(words, size=15)) + "\n" for _ in range(300)), encoding="utf-8")
    return path


@pytest.mark.parametrize("arch", ["skipgram", "cbow"])
def test_word2vec_trains_on_a_corpus_file(token_file, arch):
    epochs = []
    result = train_word2vec(token_file, Word2VecConfig(arch=arch, dim=16, min_count=1, epochs=2, workers=2),
                            on_epoch=epochs.append)
    assert epochs == [1, 2]
    assert result.model.sg == (1 if arch == "skipgram" else 0)
    assert result.vectors.shape == (10, 16) and result.vectors.dtype == np.float32
    assert set(result.words) == {"walk", "walked", "walking", "talk", "talked", "talking", "run", "running", "the", "a"}
    # gensim's counts are its own (with corpus_file, approximate on a tiny file split between workers)
    assert result.raw_words > 0 and 0 < result.effective_words <= result.raw_words
    assert result.words_per_second > 0


def test_fasttext_bin_reloads_with_subwords_and_no_pickle(token_file, tmp_path):
    from gensim.models.fasttext import load_facebook_vectors

    result = train_fasttext(token_file, FastTextConfig(dim=16, min_count=1, epochs=1, bucket=5000, workers=2))
    path = save_fasttext_bin(result.model, tmp_path / "fasttext.bin")
    assert [p.name for p in tmp_path.iterdir()] == ["fasttext.bin"]
    assert not path.read_bytes().startswith(PICKLE_MAGIC)
    kv = load_facebook_vectors(str(path))
    assert kv.min_n == 3 and kv.max_n == 6 and kv.bucket == 5000
    np.testing.assert_allclose(kv["walking"], result.model.wv["walking"], rtol=1e-4, atol=1e-5)
    unseen = kv["walkings"]  # never in the corpus: built from its n-grams
    assert unseen.shape == (16,) and np.abs(unseen).sum() > 0


def test_empty_corpus_file_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no tokens"):
        train_word2vec(empty, Word2VecConfig())


def test_min_count_above_every_word_is_a_clear_error(token_file):
    with pytest.raises(InputError, match="min_count"):
        train_word2vec(token_file, Word2VecConfig(min_count=100_000, workers=1))
