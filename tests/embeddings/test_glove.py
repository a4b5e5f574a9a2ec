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


@pytest.mark.parametrize("threads", [1, 2])  # 2: Hogwild threads on the shared table
def test_glove_learns_planted_topics_and_loss_decreases(tmp_path, threads):
    f, groups = _two_topic_corpus(tmp_path)
    vocab = build_vocab(f, min_count=1)
    co = count_cooccurrences(f, vocab, window=3)
    result = train_glove(co, GloveConfig(dim=8, epochs=40, batch_size=64, x_max=10, lr=0.05, threads=threads))
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


def _reference_step(co: Cooccurrence, table: np.ndarray, cfg: GloveConfig) -> tuple[np.ndarray, float]:
    """The module docstring's rule, one entry at a time in float64, for one batch of every entry:
    acc[r] += sum_e (lr * g_e)^2, then W[r] -= sum_e lr * g_e / sqrt(acc[r])."""
    V, D = co.vocab_size, cfg.dim
    W, C = table[:V].astype(np.float64), table[V:].astype(np.float64)  # [w | b | 1], [w~ | 1 | b~]
    acc_W, acc_C = np.full_like(W, cfg.initial_accumulator), np.full_like(C, cfg.initial_accumulator)
    step_W, step_C = np.zeros_like(W), np.zeros_like(C)
    loss = 0.0
    for i, j, x in zip(co.rows, co.cols, co.values.astype(np.float64)):
        diff = W[i, :D] @ C[j, :D] + W[i, D] + C[j, D + 1] - np.log(x)
        fdiff = min(1.0, (x / cfg.x_max) ** cfg.alpha) * diff
        loss += fdiff * diff
        g_w = fdiff * np.concatenate([C[j, :D], [1.0, 0.0]])  # d/d[w | b | 1]
        g_c = fdiff * np.concatenate([W[i, :D], [0.0, 1.0]])  # d/d[w~ | 1 | b~]
        acc_W[i] += (cfg.lr * g_w) ** 2
        acc_C[j] += (cfg.lr * g_c) ** 2
        step_W[i] += cfg.lr * g_w
        step_C[j] += cfg.lr * g_c
    W -= step_W / np.sqrt(acc_W)
    C -= step_C / np.sqrt(acc_C)
    return W[:, :D] + C[:, :D], loss / co.nnz


def test_one_batch_follows_the_documented_adagrad_rule():
    import torch

    from textseq.embeddings.glove import _initial_table

    rng = np.random.default_rng(3)
    V, n = 5, 14
    keys = rng.choice(V * V, size=n, replace=False)  # rows and columns repeat within the batch
    co = Cooccurrence((keys // V).astype(np.int32), (keys % V).astype(np.int32),
                      rng.uniform(0.5, 30, n).astype(np.float32), V)
    cfg = GloveConfig(dim=3, epochs=1, batch_size=n, lr=0.3, x_max=10, threads=1, seed=4)
    start = _initial_table(V, cfg.dim, torch.Generator().manual_seed(cfg.seed)).numpy()  # train_glove's first draw
    expected, loss = _reference_step(co, start, cfg)
    result = train_glove(co, cfg)
    assert result.losses[0] == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(result.vectors, expected, rtol=1e-4, atol=1e-6)
    assert np.abs(result.vectors - (start[:V, :3] + start[V:, :3])).max() > 0.01  # the step did move


def test_a_short_batch_first_does_not_break_training():
    co = Cooccurrence(np.array([0, 0, 1, 1, 2], np.int32), np.array([1, 2, 0, 2, 0], np.int32),
                      np.array([3, 1, 3, 2, 1], np.float32), 3)
    # 5 entries in batches of 2: the 1-entry batch comes first in some epoch's order
    result = train_glove(co, GloveConfig(dim=4, epochs=12, batch_size=2, threads=1))
    assert len(result.losses) == 12 and np.isfinite(result.vectors).all()


def test_nan_during_training_names_the_epoch():
    values = np.array([1.0, 2.0, np.nan, 3.0], dtype=np.float32)  # an injected bad count
    co = Cooccurrence(np.array([0, 0, 1, 1], np.int32), np.array([0, 1, 0, 1], np.int32), values, 2)
    with pytest.raises(TextseqError, match="diverged at epoch 1"):
        train_glove(co, GloveConfig(dim=4, epochs=3, threads=1))


def test_empty_cooccurrence_matrix_is_a_clear_error():
    co = Cooccurrence(np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.float32), 3)
    with pytest.raises(InputError, match="empty"):
        train_glove(co, GloveConfig(dim=4, epochs=1))
