"""GloVe: co-occurrence counting (in memory and spilled to disk) and the weighted least-squares fit."""

from __future__ import annotations

import numpy as np
import pytest

from textseq.embeddings.cooccur import (
    Cooccurrence,
    Vocab,
    build_vocab,
    count_cooccurrences,
)
from textseq.embeddings.glove import GloveConfig, train_glove
from textseq.errors import InputError, TextseqError


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _naive(lines, vocab: Vocab, window: int, symmetric: bool) -> np.ndarray:
    """The reference: a Python loop over tokens, OOV tokens removed before windowing."""
    index = vocab.index()
    X = np.zeros((len(vocab), len(vocab)))
    for line in lines:
        ids = [index[w] for w in line.split() if w in index]
        for p, centre in enumerate(ids):
            for d in range(1, window + 1):
                if p - d < 0:
                    break
                X[centre, ids[p - d]] += 1.0 / d
                if symmetric:
                    X[ids[p - d], centre] += 1.0 / d
    return X


def test_hand_computed_counts(tmp_path):
    f = _write(tmp_path / "t.txt", ["a b c", "c a"])
    vocab = Vocab(["a", "b", "c"], np.array([2, 1, 2]), 5)
    X = count_cooccurrences(f, vocab, window=2, symmetric=False).to_dense()
    a, b, c = 0, 1, 2
    expected = np.zeros((3, 3))
    expected[b, a] = 1.0  # b sees a at distance 1 on its left
    expected[c, b] = 1.0
    expected[c, a] = 0.5  # distance 2
    expected[a, c] = 1.0  # second line: a sees c on its left; lines never share a window
    np.testing.assert_allclose(X, expected)
    Xs = count_cooccurrences(f, vocab, window=2, symmetric=True).to_dense()
    np.testing.assert_allclose(Xs, expected + expected.T)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("window", [1, 3, 7])
def test_counts_equal_naive_reference(tmp_path, symmetric, window):
    rng = np.random.default_rng(window)
    lines = [" ".join(f"w{k}" for k in rng.zipf(1.6, size=rng.integers(0, 25)) % 40) for _ in range(60)]
    f = _write(tmp_path / "t.txt", lines)
    vocab = build_vocab(f, min_count=3)  # some words fall out: OOV handling is tested too
    assert len(vocab) < len(set(" ".join(lines).split()))
    co = count_cooccurrences(f, vocab, window=window, symmetric=symmetric, chunk_tokens=40)
    np.testing.assert_allclose(co.to_dense(), _naive(lines, vocab, window, symmetric), rtol=1e-6)
    keys = co.rows.astype(np.int64) * len(vocab) + co.cols
    assert np.all(np.diff(keys) > 0)  # sorted by (row, col), no duplicates


def test_spill_and_merge_equals_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    lines = [" ".join(f"w{k}" for k in rng.zipf(1.5, size=40) % 200) for _ in range(300)]
    f = _write(tmp_path / "t.txt", lines)
    vocab = build_vocab(f, min_count=1)
    mem = count_cooccurrences(f, vocab, window=5)
    disk = count_cooccurrences(f, vocab, window=5, max_memory_mb=0.002, chunk_tokens=200, work_dir=tmp_path / "w")
    assert isinstance(disk.values, np.memmap)  # the shard path really ran
    assert not list((tmp_path / "w").glob("cooc-shards-*"))  # shards are cleaned up
    np.testing.assert_array_equal(disk.rows, mem.rows)
    np.testing.assert_array_equal(disk.cols, mem.cols)
    np.testing.assert_allclose(disk.values, mem.values, rtol=1e-6)


def test_vocab_min_count_max_vocab_and_order(tmp_path):
    f = _write(tmp_path / "t.txt", ["b a a c", "a b d"])
    v = build_vocab(f, min_count=2)
    assert v.words == ["a", "b"] and v.counts.tolist() == [3, 2] and v.total_tokens == 7
    assert build_vocab(f, min_count=1, max_vocab=3).words == ["a", "b", "c"]  # ties alphabetical


@pytest.mark.parametrize("lines", [[], ["", "   "]])
def test_empty_corpus_is_a_clear_error(tmp_path, lines):
    f = _write(tmp_path / "t.txt", lines)
    with pytest.raises(InputError, match="no tokens"):
        build_vocab(f)


def test_min_count_too_high_is_a_clear_error(tmp_path):
    f = _write(tmp_path / "t.txt", ["a b c"])
    with pytest.raises(InputError, match="min_count=5"):
        build_vocab(f, min_count=5)


def _two_topic_corpus(tmp_path):
    rng = np.random.default_rng(1)
    groups = [[f"a{k}" for k in range(8)], [f"b{k}" for k in range(8)]]
    lines = [" ".join(rng.choice(groups[t % 2], size=12)) for t in range(400)]
    return _write(tmp_path / "t.txt", lines), groups


def test_glove_learns_planted_topics_and_loss_decreases(tmp_path):
    f, groups = _two_topic_corpus(tmp_path)
    vocab = build_vocab(f, min_count=1)
    co = count_cooccurrences(f, vocab, window=3)
    result = train_glove(co, GloveConfig(dim=8, epochs=40, batch_size=64, x_max=10, lr=0.05, threads=1))
    assert result.vectors.shape == (16, 8) and result.vectors.dtype == np.float32
    assert result.losses[-1] < 0.3 * result.losses[0]
    index = vocab.index()
    unit = result.vectors / np.linalg.norm(result.vectors, axis=1, keepdims=True)
    A = unit[[index[w] for w in groups[0]]]
    B = unit[[index[w] for w in groups[1]]]
    within = np.mean([(A @ A.T)[np.triu_indices(8, 1)].mean(), (B @ B.T)[np.triu_indices(8, 1)].mean()])
    across = (A @ B.T).mean()
    assert within > across + 0.5, (within, across)
    assert result.updates == co.nnz * 40 and result.updates_per_second > 0


def test_nan_during_training_names_the_epoch():
    values = np.array([1.0, 2.0, np.nan, 3.0], dtype=np.float32)  # an injected bad count
    co = Cooccurrence(np.array([0, 0, 1, 1], np.int32), np.array([0, 1, 0, 1], np.int32), values, 2)
    with pytest.raises(TextseqError, match="diverged at epoch 1"):
        train_glove(co, GloveConfig(dim=4, epochs=3, threads=1))


def test_empty_cooccurrence_matrix_is_a_clear_error():
    co = Cooccurrence(np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.float32), 3)
    with pytest.raises(InputError, match="empty"):
        train_glove(co, GloveConfig(dim=4, epochs=1))
