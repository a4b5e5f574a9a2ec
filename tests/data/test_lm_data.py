"""Token files (encode_corpus / EncodedCorpus) and LM batches (LMBatches / LMEvalBatches)."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from textseq.data.encode import EncodedCorpus, choose_dtype, encode_corpus, sidecar_path
from textseq.data.lm import (
    IGNORE_INDEX,
    LMBatches,
    LMEvalBatches,
    count_eval_windows,
    count_windows,
    min_tokens,
)
from textseq.errors import ConfigError, InputError
from textseq.train.protocol import Batches
from textseq.codecs import CharCodec, WordCodec
from textseq.vocab import Vocab

DOCS = ["hello world", "the cat sat\non the mat", "", "ünïcödé 😀 ok"]


# --- encoding --------------------------------------------------------------------------------


def test_encode_writes_flat_file_and_sidecar(tmp_path):
    codec = CharCodec.build(DOCS)
    out = tmp_path / "train.bin"
    corpus = encode_corpus(iter(DOCS), codec, out, progress=False, source="docs.txt")
    expected = np.concatenate([codec.encode_array(d + "\n") for d in DOCS])
    assert corpus.dtype == np.uint16
    assert out.stat().st_size == len(expected) * 2 == len(corpus) * corpus.dtype.itemsize
    assert np.array_equal(corpus.tokens, expected)  # memmap read back == direct encoding
    assert isinstance(corpus.tokens, np.memmap) and not corpus.tokens.flags.writeable
    meta = json.loads(sidecar_path(out).read_text(encoding="utf-8"))
    assert meta["count"] == len(expected) and meta["dtype"] == "uint16" and meta["documents"] == 4
    assert meta["source"] == "docs.txt" and meta["unknown_count"] == 0
    assert codec.decode(corpus.tokens) == "".join(d + "\n" for d in DOCS)
    assert corpus.codec().encode("cat") == codec.encode("cat")
    assert not (tmp_path / "train.bin.partial").exists()


def test_word_corpus_marks_document_ends_with_eos_and_counts_unknowns(tmp_path):
    codec = WordCodec(Vocab.build("the cat sat on the mat".split()))
    corpus = encode_corpus(["the cat", "a dog sat"], codec, tmp_path / "w.bin", progress=False)
    assert codec.decode(corpus.tokens) == "the cat <eos> <unk> <unk> sat <eos>"
    assert corpus.unknown_count == 2
    assert dict(corpus.meta["top_unknowns"]) == {"a": 1, "dog": 1}


def test_dtype_switches_to_int32_for_large_vocab(tmp_path):
    assert choose_dtype(65536) == np.uint16 and choose_dtype(65537) == np.int32
    words = [f"w{i}" for i in range(70_000)]
    codec = WordCodec(Vocab(["<unk>", "<eos>", *words], {"unk": "<unk>", "eos": "<eos>"}))
    corpus = encode_corpus(["w0 w69999 w65535", "w12"], codec, tmp_path / "big.bin", progress=False)
    assert corpus.dtype == np.int32
    assert corpus.tokens.tolist() == [2, 70001, 65537, 1, 14, 1]
    assert (tmp_path / "big.bin").stat().st_size == 6 * 4
    with pytest.raises(ConfigError, match="cannot hold ids up to 70001"):
        encode_corpus(["w0"], codec, tmp_path / "bad.bin", dtype="uint16", progress=False)


def test_empty_corpus_is_an_error_naming_the_source(tmp_path):
    codec = CharCodec.build(["abc"])
    with pytest.raises(InputError, match="'shakespeare:train' produced 0 tokens"):
        encode_corpus(iter(["", ""]), codec, tmp_path / "e.bin", progress=False, separator=None, source="shakespeare:train")
    assert not (tmp_path / "e.bin").exists() and not (tmp_path / "e.bin.partial").exists()


def test_open_detects_truncated_file(tmp_path):
    codec = CharCodec.build(["abc"])
    encode_corpus(["abcabc"], codec, tmp_path / "t.bin", progress=False)
    with open(tmp_path / "t.bin", "r+b") as f:
        f.truncate(4)
    with pytest.raises(InputError, match="t.bin: 4 bytes, but the sidecar says 7 tokens"):
        EncodedCorpus.open(tmp_path / "t.bin")


def test_encoding_50mb_runs_in_constant_memory(tmp_path):
    base = "".join(chr(c) for c in range(32, 127)) * 700  # ~66 kB of printable ASCII
    n_docs = 50_000_000 // len(base)
    codec = CharCodec.build([base])

    def documents():  # each document is a fresh string, so nothing is shared between them
        for i in range(n_docs):
            k = i % len(base)
            yield base[k:] + base[:k]

    tracemalloc.start()
    try:
        corpus = encode_corpus(documents(), codec, tmp_path / "big.bin", progress=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total_chars = n_docs * (len(base) + 1)
    assert len(corpus) == total_chars > 49_000_000
    assert peak < 12_000_000, f"peak {peak / 1e6:.1f} MB while encoding {total_chars / 1e6:.0f} MB"
    k = 17 % len(base)
    assert codec.decode(corpus.tokens[17 * (len(base) + 1) :][:50]) == (base[k:] + base[:k])[:50]


# --- training batches ------------------------------------------------------------------------


def stream(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.uint16)  # token value == position: windows are easy to check


def test_lm_batches_follow_the_protocol():
    assert isinstance(LMBatches(stream(500), 4, 5), Batches)
    assert isinstance(LMEvalBatches(stream(500), 4, 5), Batches)


@pytest.mark.parametrize("n, B, T", [(1000, 4, 7), (503, 3, 10), (64, 1, 5), (200, 8, 3)])
def test_rows_are_contiguous_streams_and_y_is_x_shifted(n, B, T):
    tokens = stream(n)
    batches = LMBatches(tokens, B, T, seed=3)
    plan = batches.plan()
    windows = list(batches)
    assert len(windows) == plan.windows == count_windows(n, B, T, plan.offset)
    L = plan.row_len
    for b in range(B):
        xs = np.concatenate([w.x[b].numpy() for w in windows])
        ys = np.concatenate([w.y[b].numpy() for w in windows])
        row = tokens[plan.offset + b * L : plan.offset + (b + 1) * L]
        assert np.array_equal(xs, row[:-1]) and np.array_equal(ys, row[1:])
    assert all(w.x.shape == (B, T) for w in windows[:-1]) and 1 <= windows[-1].x.shape[1] <= T
    assert windows[-1].x.shape[1] == plan.last_len
    assert all(w.x.dtype == torch.int64 and w.count == w.x.numel() for w in windows)
    assert [w.reset for w in windows] == [True] + [False] * (len(windows) - 1)
    assert plan.offset + B * L + plan.dropped_tail == n and plan.dropped_tail < B


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 400), B=st.integers(1, 9), T=st.integers(1, 20), seed=st.integers(0, 2**32), epoch=st.integers(0, 99))
def test_rows_reconstruct_for_any_sizes(n, B, T, seed, epoch):
    if n < min_tokens(B, T):
        with pytest.raises(InputError):
            LMBatches(stream(n), B, T, seed=seed)
        return
    batches = LMBatches(stream(n), B, T, seed=seed)
    batches.set_epoch(epoch)
    plan = batches.plan()
    xs = np.concatenate([w.x.numpy() for w in batches], axis=1)  # (B, L-1)
    expected = stream(n)[plan.offset : plan.offset + B * plan.row_len].reshape(B, -1)[:, :-1]
    assert np.array_equal(xs, expected) and xs.shape[1] >= T


def test_epochs_reset_and_move_the_offset_reproducibly():
    a, b = LMBatches(stream(5000), 4, 35, seed=7), LMBatches(stream(5000), 4, 35, seed=7)
    offsets = [a.offset(e) for e in range(20)]
    assert all(0 <= o < 35 for o in offsets) and len(set(offsets)) > 5
    assert offsets == [b.offset(e) for e in range(20)]
    assert offsets != [LMBatches(stream(5000), 4, 35, seed=8).offset(e) for e in range(20)]
    first = list(a)  # finishing an epoch moves to the next one
    assert a.epoch == 1 and a.window == 0
    second = list(a)
    assert second[0].reset and second[0].x[0, 0].item() == offsets[1]
    assert first[0].x[0, 0].item() == offsets[0]
    b.set_epoch(1)
    assert torch.equal(next(iter(b)).x, second[0].x)
    assert LMBatches(stream(5000), 4, 35, random_offset=False).offset(3) == 0


@pytest.mark.parametrize("k", [0, 1, 5, 13])
def test_resume_mid_epoch_gives_the_same_next_window(k):
    tokens = stream(3000)
    full = LMBatches(tokens, 4, 10, seed=1)
    full.set_epoch(2)
    reference = list(full)
    interrupted = LMBatches(tokens, 4, 10, seed=1)
    interrupted.set_epoch(2)
    it = iter(interrupted)
    for _ in range(k):
        next(it)
    state = json.loads(json.dumps(interrupted.state_dict()))  # must survive a JSON checkpoint
    assert state["epoch"] == 2 and state["window"] == k and state["offset"] == full.offset(2)
    resumed = LMBatches(tokens, 4, 10, seed=1)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # what a trainer's epoch loop does; must not rewind
    rest = list(resumed)
    assert len(rest) == len(reference) - k
    for got, want in zip(rest, reference[k:]):
        assert torch.equal(got.x, want.x) and torch.equal(got.y, want.y) and got.reset == want.reset
    assert resumed.epoch == 3


def test_load_state_dict_rejects_other_settings():
    state = LMBatches(stream(3000), 4, 10, seed=1).state_dict()
    with pytest.raises(ConfigError, match="bptt=10"):
        LMBatches(stream(3000), 4, 12, seed=1).load_state_dict(state)


@pytest.mark.parametrize("random_offset", [True, False])
def test_too_short_corpus_says_how_many_tokens_are_needed(random_offset):
    need = min_tokens(4, 10, random_offset)
    assert need == 4 * 11 + (9 if random_offset else 0)
    with pytest.raises(InputError, match=f"has {need - 1} tokens; .* need at least {need}"):
        LMBatches(stream(need - 1), 4, 10, random_offset=random_offset)
    batches = LMBatches(stream(need), 4, 10, random_offset=random_offset)
    for epoch in range(30):  # the smallest corpus still gives one full window whatever the offset
        batches.set_epoch(epoch)
        assert next(iter(batches)).x.shape == (4, 10)


def test_batches_read_from_a_memmapped_corpus(tmp_path):
    text = "abcdefghij" * 100
    codec = CharCodec.build([text])
    corpus = encode_corpus([text], codec, tmp_path / "c.bin", progress=False)
    batch = next(iter(LMBatches(corpus, 2, 8, random_offset=False)))
    assert codec.decode(batch.x[0].tolist()) == text[:8] and codec.decode(batch.y[0].tolist()) == text[1:9]
    with pytest.raises(InputError, match="c.bin has 1001 tokens"):
        LMBatches(corpus, 100, 10)


# --- evaluation batches ----------------------------------------------------------------------


@pytest.mark.parametrize("n, B, T", [(101, 4, 7), (100, 4, 7), (50, 7, 50), (8, 7, 3), (1000, 1, 35)])
def test_eval_batches_predict_every_token_exactly_once(n, B, T):
    tokens = stream(n)
    batches = LMEvalBatches(tokens, B, T)
    windows = list(batches)
    assert len(windows) == len(batches) == count_eval_windows(n, B, T)
    targets = [np.concatenate([w.y[b].numpy() for w in windows]) for b in range(B)]
    inputs = [np.concatenate([w.x[b].numpy() for w in windows]) for b in range(B)]
    real = [t != IGNORE_INDEX for t in targets]
    assert np.array_equal(np.concatenate([t[m] for t, m in zip(targets, real)]), tokens[1:])
    assert np.array_equal(np.concatenate([x[m] for x, m in zip(inputs, real)]), tokens[:-1])
    assert sum(w.count for w in windows) == n - 1
    assert [w.reset for w in windows] == [True] + [False] * (len(windows) - 1)
    assert len(list(batches)) == len(windows)  # a second pass starts over


def test_eval_batches_too_short():
    with pytest.raises(InputError, match="has 4 tokens; evaluation with batch_size=4 needs at least 5"):
        LMEvalBatches(stream(4), 4, 10)


def test_random_row_resets_are_deterministic_and_resumable():
    tokens = np.arange(20_000) % 50
    a = LMBatches(tokens, batch_size=8, bptt=16, seed=3, reset_every=4)
    flags = [b.reset for b in a]
    assert flags[0] is True  # the epoch starts fresh for every row
    rows = [f for f in flags[1:] if isinstance(f, torch.Tensor)]
    assert rows and all(f.shape == (8,) and f.dtype == torch.bool for f in rows)
    rate = float(torch.stack(rows).float().sum()) / (8 * (len(flags) - 1))
    assert 0.15 < rate < 0.35  # about one window in four per row
    b = LMBatches(tokens, batch_size=8, bptt=16, seed=3, reset_every=4)
    it = iter(b)
    for _ in range(7):
        next(it)
    c = LMBatches(tokens, batch_size=8, bptt=16, seed=3, reset_every=4)
    c.load_state_dict(b.state_dict())
    rest_b, rest_c = list(it), list(c)
    assert len(rest_b) == len(rest_c)
    for u, v in zip(rest_b, rest_c):
        assert type(u.reset) is type(v.reset)
        assert (torch.equal(u.reset, v.reset) if isinstance(u.reset, torch.Tensor) else u.reset == v.reset)
    assert all(f is False or f is True for f in (b.reset for b in LMBatches(tokens, 8, 16, seed=3)))
