"""Readers for word-vector files (the writers are in writers.py). Every reader returns a `RawVectors` (words, float32
matrix, meta, optional subword hook); `textseq.embeddings.vectors.load_vectors` wraps it in `Vectors`.

    glove            text, `word v1 ... vD` per line, no header (GloVe 840B words may contain spaces)
    word2vec         the same text with an `N D` first line (also fastText .vec)
    word2vec-binary  `N D\\n`, then per word: utf-8 bytes, b' ', D little-endian float32 (and maybe b'\\n')
    fasttext-bin     Facebook's binary model (magic 793712314), read by gensim's own parser; it keeps
                     the subword n-gram table, so out-of-vocabulary words still get a vector
    (numpy + vocab.txt layouts, textseq directories and the glove-6b-50d resource: vectors.py)

Text is read as bytes, one line at a time, into fixed-size row blocks, so memory stays near one
copy of the final matrix whatever the file size. Problems (wrong field count, a non-number, mixed
dimensions, NaN/Inf, non-UTF-8 words) raise InputError naming the file and line, or with
errors="skip" are counted into meta["skipped"]. No reader ever unpickles anything.
"""

from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from textseq.errors import ConfigError, InputError

FASTTEXT_MAGIC = 793712314
FORMATS = ("glove", "word2vec", "text", "word2vec-binary", "fasttext-bin", "npy", "textseq", "glove-6b-50d")
PICKLE_SUFFIXES = {".pkl", ".pickle", ".model", ".kv", ".wv"}
BLOCK_BYTES = 4 << 20  # rows are gathered in ~4 MB blocks
MAX_EXAMPLES = 5


@dataclass
class RawVectors:
    """What a reader or a training method (train.py) returns before it becomes a `Vectors`."""

    words: list[str]
    matrix: np.ndarray  # (N, D) float32
    meta: dict[str, Any] = field(default_factory=dict)
    subword: Callable[[str], np.ndarray] | None = None


class Problems:
    """Applies the error policy: strict raises at the first problem, skip counts and keeps examples."""

    def __init__(self, where: str, errors: str) -> None:
        if errors not in ("strict", "skip"):
            raise ConfigError(f"errors must be 'strict' or 'skip', got {errors!r}")
        self.where, self.errors = where, errors
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []

    def __call__(self, kind: str, location: str, message: str) -> None:
        text = f"{self.where}:{location}: {message}"
        if self.errors == "strict":
            raise InputError(text + " (errors='skip' skips such entries and counts them)")
        self.counts[kind] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)

    def record(self, meta: dict[str, Any]) -> dict[str, Any]:
        meta["skipped"] = dict(self.counts)
        if self.examples:
            meta["skipped_examples"] = self.examples
        return meta

    def nothing_read(self) -> InputError:
        if self.counts:
            detail = ", ".join(f"{n} {k}" for k, n in self.counts.items())
            return InputError(f"{self.where}: no vectors read: every entry was skipped ({detail}); first: {self.examples[0]}")
        return InputError(f"{self.where}: no vectors in the file")


class _RowBuffer:
    """Rows appended one at a time into preallocated blocks; `finish` joins them once."""

    def __init__(self, dim: int, dtype: Any, capacity: int | None = None) -> None:
        self.dim, self.dtype = dim, dtype
        self.block_rows = capacity or max(1, BLOCK_BYTES // (dim * np.dtype(dtype).itemsize))
        self.blocks: list[np.ndarray] = []
        self.current = np.empty((self.block_rows, dim), dtype=dtype)
        self.fill = 0

    def append(self, row: np.ndarray) -> None:
        if self.fill == len(self.current):
            self.blocks.append(self.current)
            self.block_rows = max(1, BLOCK_BYTES // (self.dim * np.dtype(self.dtype).itemsize))
            self.current = np.empty((self.block_rows, self.dim), dtype=self.dtype)
            self.fill = 0
        self.current[self.fill] = row
        self.fill += 1

    def finish(self) -> np.ndarray:
        last = self.current[: self.fill]
        if not self.blocks:
            return last.copy() if self.fill < 0.9 * len(self.current) else last
        blocks, self.blocks, self.current = self.blocks + [last], [], np.empty((0, self.dim), self.dtype)
        return np.concatenate(blocks)


def _decode(word: bytes, problems: Problems, location: str) -> str | None:
    try:
        return word.decode("utf-8")
    except UnicodeDecodeError as err:
        problems("non_utf8", location, f"the word {word!r} is not valid UTF-8 ({err.reason} at byte {err.start})")
        return None


class _Entries:
    """The words and rows a text or binary reader keeps; an entry with NaN/Inf or a non-UTF-8 word
    goes to the error policy instead."""

    def __init__(self, problems: Problems, max_words: int | None, rows: _RowBuffer | None = None) -> None:
        self.problems, self.max_words, self.rows = problems, max_words, rows
        self.words: list[str] = []

    def add(self, word_b: bytes, vec: np.ndarray, loc: str) -> bool:
        """Keep one entry if it is sound; True once `max_words` entries are kept (stop reading)."""
        # the sum is one pass and finite for almost every row; only a non-finite sum needs the full check
        if not np.isfinite(vec.sum()) and not np.isfinite(vec).all():
            self.problems("nonfinite", loc, f"the vector of {word_b[:40]!r} contains NaN or Inf")
            return False
        word = _decode(word_b, self.problems, loc)
        if word is None:
            return False
        self.rows.append(vec)  # type: ignore[union-attr]
        self.words.append(word)
        return self.max_words is not None and len(self.words) >= self.max_words


def _is_number(field_: bytes) -> bool:
    try:
        float(field_)
        return True
    except ValueError:
        return False


def _open_binary(path: Path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


# ----------------------------------------------------------------------------------------- text


def read_text(path: Path, max_words: int | None = None, errors: str = "strict", dtype: Any = np.float32,
              expect: str = "text") -> RawVectors:
    """GloVe text (no header) or word2vec/fastText text (`N D` header), plain or gzipped."""
    where, problems = str(path), Problems(str(path), errors)
    kept = _Entries(problems, max_words)  # its row buffer comes once the dimension is known
    dim = declared = None
    data_lines = 0
    hit_limit = False
    with _open_binary(path) as f:
        for lineno, line in enumerate(f, start=1):
            if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]  # a UTF-8 byte-order mark
            if dim is not None:
                # fast path, one array and no per-field objects: `word numbers...` with exactly `dim` numbers
                head = line.split(None, 1)
                if not head:
                    continue
                try:
                    vec = np.fromstring(head[1], dtype=np.float64, sep=" ") if len(head) == 2 else None
                except ValueError:
                    vec = None
                if vec is not None and len(vec) == dim:
                    data_lines += 1
                    if kept.add(head[0], vec, f"line {lineno}"):
                        hit_limit = True
                        break
                    continue
            fields = line.split()  # bytes.split: ASCII whitespace only, so U+00A0 inside a word survives
            if not fields:
                continue
            if lineno == 1 and len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
                declared, dim = int(fields[0]), int(fields[1])
                if dim < 1:
                    raise InputError(f"{where}:1: the header says dimension {dim}")
                if declared == 0:
                    raise InputError(f"{where}:1: the header says the file holds 0 vectors")
                cap = declared if max_words is None else min(declared, max_words)
                if path.suffix != ".gz":  # a lying header must not allocate more than the file can hold
                    cap = min(cap, path.stat().st_size // (2 * dim) + 1)
                kept.rows = _RowBuffer(dim, dtype, capacity=max(1, cap) if (max_words is not None or path.suffix != ".gz") else None)
                continue
            if expect == "word2vec" and declared is None:
                raise InputError(f"{where}:1: expected a word2vec header `COUNT DIM`, found {line[:60]!r}")
            data_lines += 1
            loc = f"line {lineno}"
            if dim is None:
                dim = len(fields) - 1
                if dim < 1:
                    raise InputError(f"{where}:{loc}: malformed line: a word with no numbers: {line[:60]!r}")
                kept.rows = _RowBuffer(dim, dtype)
            n = len(fields) - 1
            if n == dim:
                word_b, numbers = fields[0], fields[1:]
            elif n > dim and not _is_number(fields[-dim - 1]):
                # a word that contains spaces (GloVe 840B has "at . com"): the last `dim` fields are the numbers
                word_b, *numbers = line.strip().rsplit(None, dim)
            elif n == 0:
                problems("malformed", loc, f"malformed line: a word with no numbers: {line[:60]!r}")
                continue
            else:
                first = "the header" if declared is not None else "the first line"
                problems("mixed_dim", loc, f"mixed dimensions: this line has {n} values but {first} has dimension {dim}")
                continue
            try:
                vec = np.array(numbers, dtype=np.float64)
            except ValueError:
                bad = next(x for x in numbers if not _is_number(x))
                problems("malformed", loc, f"malformed line: {bad[:40]!r} is not a number")
                continue
            if kept.add(word_b, vec, loc):
                hit_limit = True
                break
    if dim is None and declared is None:
        raise InputError(f"{where}: the file is empty")
    if not kept.words:
        raise problems.nothing_read()
    if declared is not None and not hit_limit and data_lines != declared:
        problems("count_mismatch", "1", f"the header announces {declared} vectors but the file has {data_lines} (truncated or edited?)")
    kind = "word2vec" if declared is not None else "glove"
    meta = {"format": kind, "source": where, "dim": dim, "count": len(kept.words), "stopped_at_max_words": hit_limit}
    return RawVectors(kept.words, kept.rows.finish(), problems.record(meta))  # type: ignore[union-attr]


# -------------------------------------------------------------------------------- word2vec binary


def read_word2vec_binary(path: Path, max_words: int | None = None, errors: str = "strict", dtype: Any = np.float32) -> RawVectors:
    """word2vec's binary format, parsed in 1 MB chunks (never the whole file at once)."""
    where, problems = str(path), Problems(str(path), errors)
    with _open_binary(path) as f:
        header = f.readline(64)
        parts = header.split()
        if not header:
            raise InputError(f"{where}: the file is empty")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise InputError(f"{where}: not a word2vec binary file: the first line should be `COUNT DIM`, found {header[:60]!r}")
        declared, dim = int(parts[0]), int(parts[1])
        if declared == 0 or dim == 0:
            raise InputError(f"{where}: the header says {declared} vectors of dimension {dim}")
        width = 4 * dim
        cap = declared if max_words is None else min(declared, max_words)
        if path.suffix != ".gz":
            cap = min(cap, path.stat().st_size // (width + 2) + 1)
        kept = _Entries(problems, max_words, _RowBuffer(dim, dtype, capacity=max(1, cap)))
        buf, pos, eof = b"", 0, False
        for entry in range(declared):
            while True:
                space = buf.find(b" ", pos)
                if space >= 0 and len(buf) - space - 1 >= width:
                    break
                if eof:
                    raise InputError(f"{where}: truncated: the header announces {declared} vectors but the data ends in entry {entry + 1}")
                if space < 0 and len(buf) - pos > 100_000:
                    raise InputError(f"{where}: entry {entry + 1}: no word separator in 100 kB; not a word2vec binary file?")
                chunk = f.read(1 << 20)
                eof = not chunk
                buf, pos = buf[pos:] + chunk, 0
            word_b = buf[pos:space].lstrip(b"\n")  # word2vec writes a newline after each vector
            vec = np.frombuffer(buf, dtype="<f4", count=dim, offset=space + 1)
            pos = space + 1 + width
            if kept.add(word_b, vec, f"entry {entry + 1}"):
                break
    if not kept.words:
        raise problems.nothing_read()
    meta = {"format": "word2vec-binary", "source": where, "dim": dim, "count": len(kept.words)}
    return RawVectors(kept.words, kept.rows.finish(), problems.record(meta))


# -------------------------------------------------------------------------------- fastText .bin


class FastTextSubwords:
    """The subword hook of a fastText model: word -> vector from its character n-grams.
    The .bin (which holds the whole n-gram table) is parsed on first use, not before."""

    def __init__(self, path: Path, kv: Any = None) -> None:
        self.path, self._kv = Path(path), kv

    @property
    def kv(self) -> Any:
        if self._kv is None:
            self._kv = _load_facebook(self.path)
        return self._kv

    def __call__(self, word: str) -> np.ndarray:
        try:
            return np.asarray(self.kv.get_vector(word), dtype=np.float32)
        except KeyError:
            raise InputError(f"{self.path}: the fastText model has no n-gram buckets, so {word!r} gets no vector") from None

    def __repr__(self) -> str:
        return f"FastTextSubwords({str(self.path)!r})"


def _load_facebook(path: Path) -> Any:
    from gensim.models.fasttext import load_facebook_vectors

    try:
        return load_facebook_vectors(str(path))
    except (ValueError, EOFError, OSError, AssertionError, IndexError, NotImplementedError) as err:
        raise InputError(f"{path}: not a readable fastText .bin model: {type(err).__name__}: {err}") from None
    except Exception as err:  # struct.error and friends from gensim's parser
        if type(err).__name__ == "error":
            raise InputError(f"{path}: truncated or corrupt fastText .bin model: {err}") from None
        raise


def read_fasttext_bin(path: Path, max_words: int | None = None, errors: str = "strict", dtype: Any = np.float32) -> RawVectors:
    """A Facebook fastText binary model: its word vectors plus a subword hook for unseen words."""
    kv = _load_facebook(path)
    n = len(kv.index_to_key) if max_words is None else min(max_words, len(kv.index_to_key))
    words, matrix = list(kv.index_to_key[:n]), np.asarray(kv.vectors[:n], dtype=dtype)
    meta = {"format": "fasttext-bin", "source": str(path), "dim": int(matrix.shape[1]), "count": n,
            "subword": {"minn": int(kv.min_n), "maxn": int(kv.max_n), "bucket": int(kv.bucket)}}
    words, matrix, meta = drop_nonfinite(words, matrix, meta, Problems(str(path), errors))
    return RawVectors(words, matrix, meta, FastTextSubwords(path, kv) if kv.bucket else None)


# ------------------------------------------------------------------------------------ checks


def drop_nonfinite(words: list[str], matrix: np.ndarray, meta: dict, problems: Problems) -> tuple[list[str], np.ndarray, dict]:
    """Check rows for NaN/Inf a block at a time (the matrix may be a memory map)."""
    bad: list[int] = []
    step = max(1, BLOCK_BYTES // max(1, matrix.shape[1] * 4))
    for start in range(0, len(matrix), step):
        rows = np.flatnonzero(~np.isfinite(matrix[start:start + step]).all(axis=1)) + start
        for r in rows.tolist():
            problems("nonfinite", f"row {r}", f"the vector of {words[r]!r} contains NaN or Inf")
            bad.append(r)
    if bad:
        keep = np.ones(len(matrix), dtype=bool)
        keep[bad] = False
        words, matrix = [w for w, k in zip(words, keep) if k], matrix[keep]
        if not words:
            raise problems.nothing_read()
    meta["count"] = len(words)
    return words, matrix, problems.record(meta)


# ------------------------------------------------------------------------------------ detection


def detect_format(path: Path) -> str:
    """Pick a reader from the path: a directory, a suffix, the fastText magic number or a pickle header."""
    if path.is_dir():
        return "textseq"
    if not path.is_file():
        raise InputError(f"{path}: no such file or directory")
    with open(path, "rb") as f:
        head = f.read(4)
    if path.suffix.lower() in PICKLE_SUFFIXES or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        raise InputError(f"{path}: looks like a pickled gensim model; textseq never loads pickles from user paths. "
                         "Export it in gensim with model.wv.save_word2vec_format(path) (or save_facebook_model for fastText) and load that.")
    if len(head) == 4 and int.from_bytes(head, "little") == FASTTEXT_MAGIC:
        return "fasttext-bin"
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return "npy"
    if suffix == ".bin" or path.name.lower().endswith(".bin.gz"):
        return "word2vec-binary"
    return "text"
