"""`Vectors`: words + a float32 matrix + meta, with lookup, cosine neighbours and analogies.

    load_vectors(path)      any supported file, directory or the `glove-6b-50d` resource; foreign
                            formats (text, word2vec/fastText binary) are parsed in formats.py, the
                            numpy + vocab.txt layouts at the end of this module
    Vectors.save(dir)       vectors.npy + vocab.txt + meta.json: numpy and JSON, never a pickle
    Vectors.save_text(path) GloVe or word2vec text, or word2vec binary, for other tools (writers.py)

Duplicate words (some published files have them) keep every row, but lookups use the first
occurrence, as gensim and GloVe's own tools do; the number of duplicates is in `meta["duplicates"]`.
"""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from textseq.embeddings import formats, writers
from textseq.errors import ConfigError, InputError

TEXT_FORMATS = {"glove": False, "word2vec": True}  # format -> writes a header


class Vectors:
    """Word vectors: `words[i]` has row `matrix[i]`; `index` maps a word to its (first) row."""

    def __init__(self, words: Sequence[str], matrix: np.ndarray, meta: dict[str, Any] | None = None,
                 subword: Callable[[str], np.ndarray] | None = None) -> None:
        matrix = np.asarray(matrix)
        if matrix.ndim != 2:
            raise InputError(f"vectors must be a 2-d matrix, got shape {matrix.shape}")
        if matrix.dtype != np.float32:
            matrix = matrix.astype(np.float32)
        if len(words) != len(matrix):
            raise InputError(f"{len(words)} words but {len(matrix)} vector rows")
        self.words: list[str] = list(words)
        self.matrix = matrix
        self.meta: dict[str, Any] = dict(meta or {})
        self.index: dict[str, int] = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)
        self.duplicates = len(self.words) - len(self.index)
        if self.duplicates:
            self.meta["duplicates"] = self.duplicates
        self._subword = subword
        self._normed: np.ndarray | None = None

    # --- lookup -------------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def source(self) -> str:
        """Where the vectors came from (a path or resource name), for messages."""
        return str(self.meta.get("source", "<in memory>"))

    @property
    def has_subwords(self) -> bool:
        """True when out-of-vocabulary words can get a vector from character n-grams (fastText .bin)."""
        return self._subword is not None

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __repr__(self) -> str:
        return f"Vectors({len(self):,} x {self.dim}, source={self.source!r}{', subwords' if self.has_subwords else ''})"

    def get(self, word: str, default: Any = None) -> np.ndarray | Any:
        """The vector of `word` (exact match), or `default`."""
        i = self.index.get(word)
        return default if i is None else self.matrix[i]

    def subword_vector(self, word: str) -> np.ndarray:
        """A vector for any word built from its character n-grams (fastText); InputError without them."""
        if self._subword is None:
            raise InputError(f"vectors {self.source} have no subword n-grams (only a fastText .bin model has them)")
        return np.asarray(self._subword(word), dtype=np.float32)

    def vector(self, word: str, lowercase: bool = True) -> np.ndarray:
        """Exact match, else the lower-cased word, else the subword vector; InputError when none applies."""
        for w in (word, word.lower()) if lowercase else (word,):
            if w in self.index:
                return self.matrix[self.index[w]]
        if self._subword is not None:
            return self.subword_vector(word)
        raise InputError(f"{word!r} is not in vectors {self.source} ({len(self):,} words)")

    # --- similarity ---------------------------------------------------------------------------

    def normalized(self) -> np.ndarray:
        """Unit-length rows (zero rows stay zero), computed once."""
        if self._normed is None:
            m = np.array(self.matrix, dtype=np.float32)
            norms = np.linalg.norm(m, axis=1, keepdims=True)
            m /= np.maximum(norms, np.finfo(np.float32).tiny)
            self._normed = m
        return self._normed

    def most_similar(self, query: str | np.ndarray, topn: int = 10, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """The `topn` words of highest cosine similarity to a word or a vector; a query word and the
        words in `exclude` are left out."""
        excluded = set(exclude)
        if isinstance(query, str):
            excluded.update((query, query.lower()))
            query = self.vector(query)
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dim:
            raise InputError(f"query vector has dimension {q.shape[0]}, vectors have {self.dim}")
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        sims = self.normalized() @ q  # (N,)
        drop = [self.index[w] for w in excluded if w in self.index]
        if self.duplicates:
            drop += [i for i, w in enumerate(self.words) if self.index[w] != i]
        sims[drop] = -np.inf
        k = max(0, min(topn, len(sims) - len(set(drop))))
        if k == 0:
            return []
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.words[i], float(sims[i])) for i in top]

    def analogy(self, a: str, b: str, c: str, topn: int = 10) -> list[tuple[str, float]]:
        """3CosAdd: the words nearest to unit(a) - unit(b) + unit(c), inputs excluded;
        `analogy("king", "man", "woman")` asks for king - man + woman."""
        def unit(word: str) -> np.ndarray:
            v = self.vector(word)
            return v / max(float(np.linalg.norm(v)), 1e-12)

        target = unit(a) - unit(b) + unit(c)
        inputs = {a, b, c, a.lower(), b.lower(), c.lower()}
        return self.most_similar(target, topn=topn, exclude=inputs)

    def to_keyed_vectors(self) -> Any:
        """A gensim KeyedVectors with the same words (first occurrences) and vectors."""
        from gensim.models import KeyedVectors

        rows = sorted(self.index.values())
        kv = KeyedVectors(self.dim, count=0, dtype=np.float32)
        if self.duplicates:
            kv.add_vectors([self.words[i] for i in rows], np.asarray(self.matrix[rows]))
        else:
            kv.add_vectors(self.words, np.asarray(self.matrix))
        return kv

    # --- saving -------------------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write vectors.npy + vocab.txt + meta.json (and fasttext.bin when the subwords came from one)."""
        from textseq.fileio import atomic_open, atomic_write_text

        d = Path(directory)
        bad = next((w for w in self.words if "\n" in w), None)
        if bad is not None:
            raise InputError(f"cannot save {d}: the word {bad!r} contains a newline, which vocab.txt cannot hold")
        d.mkdir(parents=True, exist_ok=True)
        with atomic_open(d / "vectors.npy", "wb") as f:
            np.save(f, np.ascontiguousarray(self.matrix, dtype=np.float32), allow_pickle=False)
        atomic_write_text(d / "vocab.txt", "".join(w + "\n" for w in self.words))
        src = getattr(self._subword, "path", None)
        if src is not None and Path(src).is_file() and Path(src).resolve() != (d / "fasttext.bin").resolve():
            shutil.copyfile(src, d / "fasttext.bin")
        meta = {**self.meta, "format": "textseq", "saved_from": self.meta.get("format"), "dim": self.dim, "count": len(self)}
        atomic_write_text(d / "meta.json", json.dumps(meta, indent=1, ensure_ascii=False, default=str) + "\n")
        return d

    def save_text(self, path: str | Path, format: str = "glove") -> Path:
        """Write GloVe text (no header), word2vec text (`N D` header) or "word2vec-binary"."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if format == "word2vec-binary":
            writers.write_word2vec_binary(path, self.words, self.matrix)
        elif format in TEXT_FORMATS:
            writers.write_text(path, self.words, self.matrix, header=TEXT_FORMATS[format])
        else:
            raise ConfigError(f"unknown text vector format {format!r}; valid: glove, word2vec, word2vec-binary")
        return path

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> "Vectors":
        """Same as `load_vectors(path, **kwargs)`."""
        return load_vectors(path, **kwargs)


def load_vectors(path: str | Path, format: str = "auto", max_words: int | None = None, errors: str = "strict",
                 dtype: Any = np.float32) -> Vectors:
    """Read word vectors from a file, a textseq directory or the `glove-6b-50d` resource.

    format: "auto" (by directory/suffix/magic number) or one of formats.FORMATS.
    max_words: read only the first N vectors (files are usually sorted by frequency).
    errors: "strict" raises InputError at the first bad entry (naming file and line);
            "skip" leaves bad entries out and counts them in `meta["skipped"]`."""
    if errors not in ("strict", "skip"):
        raise ConfigError(f"errors must be 'strict' or 'skip', got {errors!r}")
    if max_words is not None and max_words < 1:
        raise ConfigError(f"max_words must be >= 1, got {max_words}")
    p = Path(path)
    if format == "auto":
        format = "glove-6b-50d" if str(path) == "glove-6b-50d" and not p.exists() else formats.detect_format(p)
    kw = {"max_words": max_words, "errors": errors, "dtype": dtype}
    if format in ("text", "glove", "word2vec"):
        raw = formats.read_text(p, expect=format, **kw)
    elif format == "word2vec-binary":
        raw = formats.read_word2vec_binary(p, **kw)
    elif format == "fasttext-bin":
        raw = formats.read_fasttext_bin(p, **kw)
    elif format == "npy":
        raw = read_npy(p, vocab_beside(p), **kw)
    elif format == "textseq":
        raw = read_textseq_dir(p, **kw)
    elif format == "glove-6b-50d":
        raw = read_glove_resource(**kw)
    else:
        raise ConfigError(f"unknown vector format {format!r}; valid: auto, {', '.join(formats.FORMATS)}")
    return Vectors(raw.words, raw.matrix, raw.meta, raw.subword)


# ------------------------------------------------------------------------ numpy + vocab.txt layouts


def read_vocab_file(path: Path, max_words: int | None = None) -> list[str]:
    """One word per line, UTF-8, split on '\\n' only (a word may contain U+2028 and other line breaks)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not valid UTF-8 ({err.reason})") from None
    words = text.split("\n")
    if words and words[-1] == "":
        words.pop()
    return words if max_words is None else words[:max_words]


def read_npy(npy: Path, vocab: Path, max_words: int | None = None, errors: str = "strict", dtype: Any = np.float32,
             meta: dict | None = None) -> formats.RawVectors:
    """A .npy matrix (memory-mapped, never unpickled) with one word per line of `vocab`."""
    try:
        matrix = np.load(npy, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        raise InputError(f"{npy}: not a plain numeric .npy array ({err})") from None
    if matrix.ndim != 2 or matrix.dtype.kind != "f":
        raise InputError(f"{npy}: expected a 2-d float matrix, found shape {matrix.shape} dtype {matrix.dtype}")
    words = read_vocab_file(vocab)
    if len(words) != len(matrix):
        raise InputError(f"{vocab} has {len(words)} words but {npy} has {len(matrix)} rows")
    if not words:
        raise InputError(f"{npy}: no vectors (0 rows)")
    if max_words is not None:
        words, matrix = words[:max_words], matrix[:max_words]
    if matrix.dtype != dtype:
        matrix = np.asarray(matrix, dtype=dtype)
    meta = {**(meta or {}), "format": (meta or {}).get("format", "npy"), "source": str(npy), "dim": int(matrix.shape[1])}
    words, matrix, meta = formats.drop_nonfinite(words, matrix, meta, formats.Problems(str(npy), errors))
    return formats.RawVectors(words, matrix, meta)


def vocab_beside(npy: Path) -> Path:
    """The vocab file of `x.npy`: x.vocab.txt, x.txt or vocab.txt in the same directory."""
    tried = [npy.with_suffix(".vocab.txt"), npy.with_suffix(".txt"), npy.parent / "vocab.txt"]
    for p in tried:
        if p.is_file():
            return p
    raise InputError(f"{npy}: no vocabulary file beside it (tried {', '.join(p.name for p in tried)})")


def read_textseq_dir(d: Path, max_words: int | None = None, errors: str = "strict", dtype: Any = np.float32) -> formats.RawVectors:
    """vectors.npy + vocab.txt [+ meta.json] [+ fasttext.bin, used lazily for out-of-vocabulary words]."""
    missing = [n for n in ("vectors.npy", "vocab.txt") if not (d / n).is_file()]
    if missing:
        raise InputError(f"{d}: not a vectors directory: missing {', '.join(missing)} (expected vectors.npy + vocab.txt [+ meta.json])")
    meta: dict[str, Any] = {}
    if (d / "meta.json").is_file():
        try:
            meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise InputError(f"{d / 'meta.json'}: invalid JSON ({err})") from None
        if not isinstance(meta, dict):
            raise InputError(f"{d / 'meta.json'}: expected a JSON object")
    meta.setdefault("format", "textseq")
    raw = read_npy(d / "vectors.npy", d / "vocab.txt", max_words, errors, dtype, meta=meta)
    raw.meta["source"] = str(d)
    if (d / "fasttext.bin").is_file():
        raw.subword = formats.FastTextSubwords(d / "fasttext.bin")
    return raw


def read_glove_resource(max_words: int | None = None, errors: str = "strict", dtype: Any = np.float32) -> formats.RawVectors:
    """The fetched `glove-6b-50d` resource (400,000 x 50), memory-mapped, via textseq.corpora.glove."""
    from textseq.corpora import resource_dir
    from textseq.corpora.glove import load_glove

    words, matrix = load_glove(str(resource_dir("glove-6b-50d")))
    if max_words is not None:
        words, matrix = words[:max_words], matrix[:max_words]
    meta = {"format": "glove-6b-50d", "source": "glove-6b-50d", "method": "glove", "dim": int(matrix.shape[1]),
            "corpus": "Wikipedia 2014 + Gigaword 5 (6B tokens, uncased)"}
    if matrix.dtype != dtype:
        matrix = np.asarray(matrix, dtype=dtype)
    words, matrix, meta = formats.drop_nonfinite(list(words), matrix, meta, formats.Problems("glove-6b-50d", errors))
    return formats.RawVectors(words, matrix, meta)


@lru_cache(maxsize=4)
def _cached(key: tuple) -> Vectors:
    path, format, max_words, _mtime = key
    return load_vectors(path, format=format, max_words=max_words)


def cached_vectors(path: str | Path, format: str = "auto", max_words: int | None = None) -> Vectors:
    """`load_vectors` once per process per (path, format, max_words); a file changed on disk is reread."""
    p = Path(path)
    mtime = p.stat().st_mtime_ns if p.exists() else None
    return _cached((str(path), format, max_words, mtime))
