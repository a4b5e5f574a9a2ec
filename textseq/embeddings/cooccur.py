"""GloVe's input: a vocabulary and a word-word co-occurrence matrix, counted in bounded memory.

    token file (one sentence/document per line, tokens separated by spaces)
      -> build_vocab: ids by frequency (min_count, max_vocab)
      -> count_cooccurrences: X[i, j] += 1/d for word j at distance d <= window from word i

Counting is vectorised per window offset, never per token: a chunk of lines becomes one id array
plus a line-number array, and for d in 1..window the pairs are (ids[d:], ids[:-d]) where both ends
are on the same line. Pairs are encoded as int64 keys i*V + j and reduced with a sort. Reduced
chunks are kept in memory until they exceed `max_memory_mb`, then merged and spilled to disk as a
sorted shard; the shards are finally k-way merged, a bounded block at a time, into three .npy files.

As in GloVe's reference `cooccur` and in word2vec, out-of-vocabulary tokens are removed before
windowing, so they take no window positions. Asymmetric counting follows `cooccur -symmetric 0`:
row = the centre word, column = a context word to its *left*.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textseq.errors import InputError

ENTRY_BYTES = 16  # an int64 key + a float64 value per reduced entry
# Per raw pair while a chunk is reduced: key, value, sort order and the sorted copies.
PAIR_BYTES = 40


@dataclass
class Vocab:
    """Words by descending frequency (ties broken alphabetically) and their counts."""

    words: list[str]
    counts: np.ndarray  # (V,) int64
    total_tokens: int  # tokens in the file, in vocabulary or not

    def index(self) -> dict[str, int]:
        """word -> id."""
        return {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)


@dataclass
class Cooccurrence:
    """A sparse V x V matrix in COO form: rows/cols int32, values float32; sorted by (row, col)."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    vocab_size: int

    @property
    def nnz(self) -> int:
        return int(self.values.shape[0])

    def to_dense(self) -> np.ndarray:
        """Dense float64 matrix, for tests and tiny vocabularies."""
        out = np.zeros((self.vocab_size, self.vocab_size), dtype=np.float64)
        out[self.rows, self.cols] = self.values
        return out

    def save(self, directory: str | Path) -> Path:
        """Write rows.npy, cols.npy, values.npy under `directory`."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name in ("rows", "cols", "values"):
            np.save(d / f"cooc_{name}.npy", getattr(self, name))
        return d

    @classmethod
    def load(cls, directory: str | Path, vocab_size: int, mmap: bool = True) -> Cooccurrence:
        """Read what `save` (or the on-disk merge) wrote; memory-mapped by default."""
        d = Path(directory)
        mode = "r" if mmap else None
        arrays = [np.load(d / f"cooc_{n}.npy", mmap_mode=mode, allow_pickle=False) for n in ("rows", "cols", "values")]
        return cls(*arrays, vocab_size=vocab_size)


# ----------------------------------------------------------------------------- vocabulary
def iter_token_lines(token_file: str | Path) -> Iterator[list[str]]:
    """The token lists of a token file, one per line (empty lines give empty lists)."""
    with open(token_file, encoding="utf-8") as fh:
        for line in fh:
            yield line.split()


def build_vocab(token_file: str | Path, min_count: int = 5, max_vocab: int | None = None) -> Vocab:
    """Count tokens; keep those seen `min_count` times, the `max_vocab` most frequent."""
    counter: Counter[str] = Counter()
    for tokens in iter_token_lines(token_file):
        counter.update(tokens)
    total = sum(counter.values())
    if total == 0:
        raise InputError(f"{token_file}: the corpus has no tokens (is the input empty, or does the pipeline drop everything?)")
    kept = sorted(((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
    if max_vocab is not None:
        kept = kept[:max_vocab]
    if not kept:
        raise InputError(f"{token_file}: no word occurs min_count={min_count} times ({total:,} tokens, "
                         f"{len(counter):,} distinct); lower min_count or use a larger corpus")
    return Vocab([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64), total)


# ----------------------------------------------------------------------------- counting
def _encoded_chunks(token_file: str | Path, index: dict[str, int], chunk_tokens: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, line numbers) arrays of about `chunk_tokens` in-vocabulary tokens; lines are never split."""
    ids: list[int] = []
    lines: list[int] = []
    get = index.get
    for n, tokens in enumerate(iter_token_lines(token_file)):
        line_ids = [i for i in map(get, tokens) if i is not None]
        ids.extend(line_ids)
        lines.extend([n] * len(line_ids))
        if len(ids) >= chunk_tokens:
            yield np.array(ids, dtype=np.int64), np.array(lines, dtype=np.int64)
            ids, lines = [], []
    if ids:
        yield np.array(ids, dtype=np.int64), np.array(lines, dtype=np.int64)


def chunk_pairs(ids: np.ndarray, lines: np.ndarray, vocab_size: int, window: int, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """Raw (keys, weights) of one chunk: for each offset d, every same-line pair at distance d."""
    keys, weights = [], []
    for d in range(1, window + 1):
        if d >= len(ids):
            break
        same = lines[d:] == lines[:-d]  # (n - d,)
        centre, context = ids[d:][same], ids[:-d][same]
        w = np.full(centre.shape[0], 1.0 / d)
        keys.append(centre * vocab_size + context)  # row = centre, column = left context
        weights.append(w)
        if symmetric:
            keys.append(context * vocab_size + centre)
            weights.append(w)
    if not keys:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    return np.concatenate(keys), np.concatenate(weights)


def reduce_pairs(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by key and sum the values of equal keys -> (unique sorted keys, sums)."""
    if keys.size == 0:
        return keys.astype(np.int64), values.astype(np.float64)
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.add.reduceat(values, starts)


def count_cooccurrences(token_file: str | Path, vocab: Vocab, *, window: int = 10, symmetric: bool = True,
                        max_memory_mb: float = 1024, work_dir: str | Path | None = None,
                        chunk_tokens: int | None = None) -> Cooccurrence:
    """Count the co-occurrence matrix of `token_file` over `vocab`, in about `max_memory_mb`.

    When everything fits, the result is in memory; otherwise sorted shards are spilled to a
    temporary directory under `work_dir` and merged into `work_dir/cooc_*.npy` (memory-mapped)."""
    if window < 1:
        raise InputError(f"window must be at least 1, got {window}")
    V = len(vocab)
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    budget = int(max_memory_mb * 2**20)
    if chunk_tokens is None:
        # A chunk makes up to 2 * window pairs per token; keep its reduction within a quarter of the budget.
        chunk_tokens = max(256, min(2_000_000, budget // (4 * PAIR_BYTES * window * (2 if symmetric else 1))))
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    pending_bytes = 0
    shards: list[Path] = []
    spill_dir: Path | None = None
    try:
        for ids, lines in _encoded_chunks(token_file, vocab.index(), chunk_tokens):
            k, v = reduce_pairs(*chunk_pairs(ids, lines, V, window, symmetric))
            pending.append((k, v))
            pending_bytes += k.size * ENTRY_BYTES
            if pending_bytes > budget // 2:
                merged = _merge_in_memory(pending)
                pending, pending_bytes = [merged], merged[0].size * ENTRY_BYTES
                if pending_bytes > budget // 4:  # merging did not shrink it enough: spill
                    if spill_dir is None:
                        spill_dir = Path(tempfile.mkdtemp(prefix="cooc-shards-", dir=work_dir))
                    shards.append(_write_shard(spill_dir, len(shards), *merged))
                    pending, pending_bytes = [], 0
        if not shards:
            keys, values = _merge_in_memory(pending)
            return _to_coo(keys, values, V)
        if pending:
            assert spill_dir is not None
            shards.append(_write_shard(spill_dir, len(shards), *_merge_in_memory(pending)))
            pending = []
        out_dir = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="cooc-"))
        merge_shards(shards, out_dir, V, block_entries=max(64, budget // (4 * ENTRY_BYTES * len(shards))))
        return Cooccurrence.load(out_dir, V)
    finally:
        if spill_dir is not None:
            shutil.rmtree(spill_dir, ignore_errors=True)


def _merge_in_memory(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    if len(parts) == 1:
        return parts[0]
    return reduce_pairs(np.concatenate([k for k, _ in parts]), np.concatenate([v for _, v in parts]))


def _to_coo(keys: np.ndarray, values: np.ndarray, V: int) -> Cooccurrence:
    return Cooccurrence((keys // V).astype(np.int32), (keys % V).astype(np.int32), values.astype(np.float32), V)


def _write_shard(directory: Path, n: int, keys: np.ndarray, values: np.ndarray) -> Path:
    path = directory / f"shard-{n:05d}"
    np.save(f"{path}.keys.npy", keys)
    np.save(f"{path}.values.npy", values)
    return path


def merge_shards(shards: list[Path], out_dir: str | Path, V: int, block_entries: int = 1 << 20) -> Path:
    """K-way merge of sorted (keys, values) shards into out_dir/cooc_{rows,cols,values}.npy.

    Each round takes, from every shard, the entries up to a boundary key chosen so that no shard
    contributes more than `block_entries`; those are reduced and appended. Memory stays at about
    len(shards) * block_entries entries however large the shards are."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = [np.load(f"{s}.keys.npy", mmap_mode="r") for s in shards]
    vals = [np.load(f"{s}.values.npy", mmap_mode="r") for s in shards]
    pos = [0] * len(shards)
    raw = {n: open(out_dir / f"cooc_{n}.bin", "wb") for n in ("rows", "cols", "values")}
    total = 0
    try:
        while True:
            live = [s for s in range(len(shards)) if pos[s] < keys[s].shape[0]]
            if not live:
                break
            boundary = min(int(keys[s][min(pos[s] + block_entries, keys[s].shape[0]) - 1]) for s in live)
            ks, vs = [], []
            for s in live:
                end = pos[s] + int(np.searchsorted(keys[s][pos[s]:pos[s] + block_entries], boundary, side="right"))
                ks.append(np.asarray(keys[s][pos[s]:end]))
                vs.append(np.asarray(vals[s][pos[s]:end]))
                pos[s] = end
            k, v = reduce_pairs(np.concatenate(ks), np.concatenate(vs))
            raw["rows"].write((k // V).astype(np.int32).tobytes())
            raw["cols"].write((k % V).astype(np.int32).tobytes())
            raw["values"].write(v.astype(np.float32).tobytes())
            total += k.size
    finally:
        for fh in raw.values():
            fh.close()
    # Raw blocks -> .npy (the final length is known only now), copied a block at a time.
    for name, dtype in (("rows", np.int32), ("cols", np.int32), ("values", np.float32)):
        src = out_dir / f"cooc_{name}.bin"
        data = np.memmap(src, dtype=dtype, mode="r", shape=(total,)) if total else np.empty(0, dtype)
        dst = np.lib.format.open_memmap(out_dir / f"cooc_{name}.npy", mode="w+", dtype=dtype, shape=(total,))
        for start in range(0, total, 1 << 22):
            dst[start:start + (1 << 22)] = data[start:start + (1 << 22)]
        dst.flush()
        del dst, data
        os.remove(src)
    return out_dir
