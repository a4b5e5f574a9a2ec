"""Vector file readers/writers: every format round-trips; bad input is an error naming the line or a
counted skip; reading streams in bounded memory; the real GloVe 6B 50-d resource loads and behaves."""

from __future__ import annotations

import gzip
import io
import tracemalloc

import numpy as np
import pytest

from textseq.embeddings.vectors import Vectors, load_vectors
from textseq.errors import ConfigError, InputError

WORDS = ["the", "café", "naïve", "東京", "x\u00a0y", "<unk>"]  # U+00A0 is not ASCII whitespace: part of the word


@pytest.fixture
def small() -> Vectors:
    rng = np.random.default_rng(0)
    return Vectors(WORDS, rng.standard_normal((len(WORDS), 7)).astype(np.float32), {"source": "test"})


def glove_text(rows: dict[str, list[float]]) -> str:
    return "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in rows.items())


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("name,fmt,detected", [
    ("v.txt", "glove", "glove"),
    ("v.vec", "word2vec", "word2vec"),
    ("v.txt.gz", "word2vec", "word2vec"),
    ("v.bin", "word2vec-binary", "word2vec-binary"),
])
def test_text_and_binary_round_trip(tmp_path, small, name, fmt, detected):
    path = small.save_text(tmp_path / name, format=fmt)
    back = load_vectors(path)
    assert back.words == small.words
    np.testing.assert_array_equal(back.matrix, small.matrix)  # shortest float32 repr reads back exactly
    assert back.meta["format"] == detected and back.meta["skipped"] == {}


def test_textseq_directory_round_trip(tmp_path, small):
    small.save(tmp_path / "d")
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["meta.json", "vectors.npy", "vocab.txt"]
    back = Vectors.load(tmp_path / "d")
    assert back.words == small.words and back.meta["format"] == "textseq"
    np.testing.assert_array_equal(back.matrix, small.matrix)


def test_npy_with_vocab_beside(tmp_path, small):
    np.save(tmp_path / "emb.npy", small.matrix.astype(np.float64))  # converted to float32 on load
    (tmp_path / "emb.vocab.txt").write_text("".join(w + "\n" for w in WORDS), encoding="utf-8")
    back = load_vectors(tmp_path / "emb.npy")
    assert back.words == WORDS and back.matrix.dtype == np.float32
    np.testing.assert_array_equal(back.matrix, small.matrix)
    (tmp_path / "emb.vocab.txt").unlink()
    with pytest.raises(InputError, match="no vocabulary file"):
        load_vectors(tmp_path / "emb.npy")


def test_word2vec_binary_written_by_gensim(tmp_path, small):
    kv = small.to_keyed_vectors()
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    back = load_vectors(tmp_path / "g.bin")
    assert back.words == small.words
    np.testing.assert_array_equal(back.matrix, small.matrix)
    # and gensim reads ours
    from gensim.models import KeyedVectors

    small.save_text(tmp_path / "ours.bin", format="word2vec-binary")
    theirs = KeyedVectors.load_word2vec_format(str(tmp_path / "ours.bin"), binary=True)
    np.testing.assert_array_equal(theirs["東京"], small.get("東京"))


def test_word2vec_text_read_by_gensim(tmp_path, small):
    from gensim.models import KeyedVectors

    small.save_text(tmp_path / "w.txt", format="word2vec")
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "w.txt"), binary=False)
    np.testing.assert_allclose(kv["café"], small.get("café"))


def test_fasttext_bin_gives_subword_vectors_for_unseen_words(tmp_path):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    sentences = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "sat", "on", "a", "log"]] * 20
    model = FastText(sentences, vector_size=12, min_count=1, epochs=3, bucket=2000, min_n=2, max_n=4, seed=1, workers=1)
    save_facebook_model(model, str(tmp_path / "ft.bin"))
    v = load_vectors(tmp_path / "ft.bin")
    assert v.meta["format"] == "fasttext-bin" and v.has_subwords and "cats" not in v
    assert set(v.words) == {"the", "cat", "sat", "on", "mat", "a", "dog", "log"}
    oov = v.subword_vector("cats")
    assert oov.shape == (12,) and np.abs(oov).sum() > 0
    np.testing.assert_allclose(v.vector("cats"), oov)
    np.testing.assert_allclose(v.get("cat"), model.wv["cat"], rtol=1e-5)
    # the directory layout keeps the .bin, so the subword hook survives a save/load
    v.save(tmp_path / "d")
    again = load_vectors(tmp_path / "d")
    assert again.has_subwords
    np.testing.assert_allclose(again.subword_vector("cats"), oov)


def test_glove_840b_words_with_spaces(tmp_path):
    (tmp_path / "v.txt").write_text("a 1 2 3\nat . com 4 5 6\nb 7 8 9\n", encoding="utf-8")
    v = load_vectors(tmp_path / "v.txt")
    assert v.words == ["a", "at . com", "b"]
    np.testing.assert_array_equal(v.get("at . com"), [4, 5, 6])


def test_duplicates_first_occurrence_wins(tmp_path):
    (tmp_path / "v.txt").write_text("a 1 0\nb 0 1\na 5 5\n", encoding="utf-8")
    v = load_vectors(tmp_path / "v.txt")
    assert len(v) == 3 and v.duplicates == 1 and v.meta["duplicates"] == 1
    np.testing.assert_array_equal(v.get("a"), [1, 0])
    assert [w for w, _ in v.most_similar("b", topn=5)] == ["a"]  # the duplicate row is not listed
    assert len(v.to_keyed_vectors()) == 2


def test_refuses_pickles(tmp_path):
    import pickle

    (tmp_path / "m.model").write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "m.txt").write_bytes(pickle.dumps({"a": 1}))
    for name in ("m.model", "m.txt"):
        with pytest.raises(InputError, match="never loads pickles"):
            load_vectors(tmp_path / name)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("content,match", [
    (b"a 1 2 3\nb 4 x 6\n", r"v\.txt:line 2: malformed line: b'x' is not a number"),
    (b"a 1 2 3\nb\n", r"line 2: malformed line: a word with no numbers"),
    (b"a 1 2 3\nb 4 5 6\nc 7 8\n", r"line 3: mixed dimensions: this line has 2 values but the first line has dimension 3"),
    (b"a 1 2 3\nb 4 5 6 7\n", r"line 2: mixed dimensions: this line has 4 values"),
    (b"2 3\na 1 2 3\nb 1 2\n", r"line 3: mixed dimensions: this line has 2 values but the header has dimension 3"),
    (b"a 1 2 3\nb 4 nan 6\n", r"line 2: the vector of b'b' contains NaN or Inf"),
    (b"a 1 2 3\nb 4 inf 6\n", r"line 2: .*NaN or Inf"),
    (b"a 1 2 3\n\xff\xfeb 4 5 6\n", r"line 2: the word b'\\xff\\xfeb' is not valid UTF-8"),
    (b"3 3\na 1 2 3\nb 4 5 6\n", r"header announces 3 vectors but the file has 2"),
])
def test_bad_lines_are_errors_naming_the_line(tmp_path, content, match):
    (tmp_path / "v.txt").write_bytes(content)
    with pytest.raises(InputError, match=match):
        load_vectors(tmp_path / "v.txt")


def test_skip_counts_and_reports_each_problem(tmp_path):
    lines = [b"a 1 2 3", b"b 4 x 6", b"c 7 8", b"d 1 nan 1", b"\xffe 1 1 1", b"f 0 0 1", b""]
    (tmp_path / "v.txt").write_bytes(b"\n".join(lines))
    v = load_vectors(tmp_path / "v.txt", errors="skip")
    assert v.words == ["a", "f"]
    assert v.meta["skipped"] == {"malformed": 1, "mixed_dim": 1, "nonfinite": 1, "non_utf8": 1}
    assert "line 2" in v.meta["skipped_examples"][0]


def test_non_utf8_strict_vs_skip(tmp_path):
    (tmp_path / "v.txt").write_bytes("caf\u00e9 1 2\n".encode("latin-1") + b"ok 3 4\n")
    with pytest.raises(InputError, match=r"line 1: the word b'caf\\xe9' is not valid UTF-8"):
        load_vectors(tmp_path / "v.txt")
    v = load_vectors(tmp_path / "v.txt", errors="skip")
    assert v.words == ["ok"] and v.meta["skipped"] == {"non_utf8": 1}


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path, content):
    (tmp_path / "v.txt").write_bytes(content)
    with pytest.raises(InputError, match="the file is empty"):
        load_vectors(tmp_path / "v.txt")


def test_all_lines_skipped_is_an_error_not_an_empty_matrix(tmp_path):
    (tmp_path / "v.txt").write_bytes(b"a nan 1\nb inf 2\n")
    with pytest.raises(InputError, match="every entry was skipped.*2 nonfinite"):
        load_vectors(tmp_path / "v.txt", errors="skip")


def test_nan_in_npy_directory(tmp_path, small):
    m = small.matrix.copy()
    m[2, 3] = np.nan
    Vectors(WORDS, m).save(tmp_path / "d")
    with pytest.raises(InputError, match=r"row 2: the vector of 'naïve' contains NaN"):
        load_vectors(tmp_path / "d")
    v = load_vectors(tmp_path / "d", errors="skip")
    assert "naïve" not in v and len(v) == len(WORDS) - 1 and v.meta["skipped"] == {"nonfinite": 1}


def test_word2vec_binary_truncated_and_nan(tmp_path, small):
    small.save_text(tmp_path / "v.bin", format="word2vec-binary")
    data = (tmp_path / "v.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:-20])
    with pytest.raises(InputError, match="truncated"):
        load_vectors(tmp_path / "cut.bin")
    m = small.matrix.copy()
    m[1, 0] = np.inf
    Vectors(WORDS, m).save_text(tmp_path / "inf.bin", format="word2vec-binary")
    with pytest.raises(InputError, match="entry 2: .*NaN or Inf"):
        load_vectors(tmp_path / "inf.bin")
    assert load_vectors(tmp_path / "inf.bin", errors="skip").meta["skipped"] == {"nonfinite": 1}


def test_bad_arguments_and_missing_files(tmp_path, small):
    small.save_text(tmp_path / "v.txt")
    with pytest.raises(ConfigError, match="errors must be"):
        load_vectors(tmp_path / "v.txt", errors="ignore")
    with pytest.raises(ConfigError, match="unknown vector format"):
        load_vectors(tmp_path / "v.txt", format="pickle")
    with pytest.raises(InputError, match="no such file"):
        load_vectors(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="not a vectors directory: missing vectors.npy, vocab.txt"):
        load_vectors(tmp_path)
    with pytest.raises(InputError, match="expected a word2vec header"):
        load_vectors(tmp_path / "v.txt", format="word2vec")
    with pytest.raises(InputError, match="ASCII whitespace"):
        Vectors(["a b"], np.ones((1, 2))).save_text(tmp_path / "o.txt")


# --- streaming and memory --------------------------------------------------------------------


def test_max_words_stops_early(tmp_path):
    # everything after line 3 is garbage: reading stops before it
    (tmp_path / "v.txt").write_bytes(b"a 1 2\nb 3 4\nc 5 6\nd oops\n" + b"\xff" * 1000)
    v = load_vectors(tmp_path / "v.txt", max_words=3)
    assert v.words == ["a", "b", "c"] and v.meta["stopped_at_max_words"]
    with gzip.open(tmp_path / "h.vec.gz", "wb") as f:
        f.write(b"1000 2\na 1 2\nb 3 4\n")  # header promises more; max_words makes that fine
    assert load_vectors(tmp_path / "h.vec.gz", max_words=2).words == ["a", "b"]


def test_reading_is_memory_bounded(tmp_path):
    n, d = 50_000, 100
    rng = np.random.default_rng(0)
    path = tmp_path / "big.txt"
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, n, 5000):
            body = io.StringIO()
            np.savetxt(body, rng.standard_normal((5000, d)), fmt="%.5f")
            f.write("".join(f"w{start + i} {row}\n" for i, row in enumerate(body.getvalue().splitlines())))
    final_bytes = n * d * 4
    tracemalloc.start()
    try:
        v = load_vectors(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert v.matrix.shape == (n, d) and v.words[-1] == f"w{n - 1}"
    assert peak < 3 * final_bytes, f"peak {peak / 1e6:.1f} MB for a {final_bytes / 1e6:.1f} MB matrix"


# --- neighbours, analogies -------------------------------------------------------------------


def test_most_similar_and_analogy_on_planted_geometry():
    words = ["king", "queen", "man", "woman", "apple", "Paris"]
    m = np.array([[1, 1, 0, 0], [1, -1, 0, 0], [0, 1, 0, 0.1], [0, -1, 0, 0.1], [0, 0, 1, 0], [0, 0, 0.2, 1]], dtype=np.float32)
    v = Vectors(words, m)
    assert v.analogy("king", "man", "woman", topn=1)[0][0] == "queen"
    top = v.most_similar("king", topn=2)
    assert "king" not in [w for w, _ in top] and top[0][1] >= top[1][1]
    assert v.most_similar("APPLE", topn=1)[0][0] == "Paris"  # unknown 'APPLE' is looked up as 'apple', and excluded
    with pytest.raises(InputError, match="'pear' is not in vectors"):
        v.most_similar("pear")
    np.testing.assert_allclose(np.linalg.norm(v.normalized(), axis=1), 1, rtol=1e-6)


# --- the real GloVe 6B 50-d ------------------------------------------------------------------


@pytest.fixture(scope="module")
def glove():
    from textseq.corpora import is_fetched

    if not is_fetched("glove-6b-50d"):
        pytest.skip("glove-6b-50d is not fetched (run `textseq corpora fetch glove-6b-50d`)")
    return load_vectors("glove-6b-50d")


def test_real_glove_loads_and_solves_king_queen(glove):
    assert glove.matrix.shape == (400_000, 50) and glove.words[:3] == ["the", ",", "."]
    assert "queen" in [w for w, _ in glove.analogy("king", "man", "woman", topn=3)]
    assert glove.most_similar("paris", topn=5)[0][0] != "paris"
    assert "france" in [w for w, _ in glove.most_similar("paris", topn=5)]
