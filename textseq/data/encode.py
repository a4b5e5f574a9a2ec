"""Encode a corpus once into a flat token file; training memory-maps it (the nanoGPT `prepare.py` idea).

    texts (any iterable of str) --codec--> train.bin        ids, native byte order, no header
                                           train.bin.json   dtype, count, codec spec, unknowns, source

Data preparation and training meet only through these two files. Encoding runs in constant memory:
each document is encoded alone and its ids are appended to the file in chunks, so the peak is about
one document plus one chunk, however large the corpus. (A reader that yields a whole 1 GB file as a
single document defeats this; readers yield documents or lines.)
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from textseq.errors import ConfigError, InputError
from textseq.codecs import TokenCodec, codec_from_spec

TOKENS_FORMAT, TOKENS_VERSION = "textseq.tokens", 1
FLUSH_BYTES = 1 << 20  # write to disk every ~1 MiB of encoded ids


def sidecar_path(path: str | Path) -> Path:
    """`train.bin` -> `train.bin.json`."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def choose_dtype(vocab_size: int) -> np.dtype:
    """uint16 while every id fits (size <= 65536), else int32: half the disk and page cache."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.int32)


def _check_dtype(dtype: Any, vocab_size: int) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind not in "ui" or np.iinfo(dt).max < vocab_size - 1:
        raise ConfigError(f"dtype {dt.name} cannot hold ids up to {vocab_size - 1}; use {choose_dtype(vocab_size).name}")
    return dt


def _describe(texts: Iterable[str]) -> str:
    for attr in ("source", "name", "path"):
        value = getattr(texts, attr, None)
        if isinstance(value, (str, os.PathLike)):
            return str(value)
    return f"<{type(texts).__name__}>"


def _separator_ids(codec: TokenCodec, separator: str | None) -> np.ndarray:
    # Characters and identity-normalised sentencepiece keep "\n" as tokens; a word tokenizer drops
    # whitespace, so documents would run together: then the codec's end-of-sequence id marks the join.
    if separator is None:
        return np.zeros(0, dtype=np.int64)
    ids = codec.encode_array(separator)
    if len(ids) == 0 and codec.eos_id is not None:
        ids = np.array([codec.eos_id], dtype=np.int64)
    return ids


@dataclass
class EncodedCorpus:
    """A token file and its sidecar. `tokens` is a read-only memmap: nothing is read until used."""

    path: Path
    tokens: np.ndarray  # (count,) memmap
    codec_spec: dict[str, Any]
    unknown_count: int
    documents: int
    source: str
    meta: dict[str, Any]

    @property
    def dtype(self) -> np.dtype:
        return self.tokens.dtype

    def __len__(self) -> int:
        return len(self.tokens)

    def codec(self, **kwargs: Any) -> TokenCodec:
        """Rebuild the codec the file was encoded with (kwargs go to `codec_from_spec`)."""
        return codec_from_spec(self.codec_spec, where=str(sidecar_path(self.path)), base_dir=self.path.parent, **kwargs)

    @classmethod
    def open(cls, path: str | Path) -> "EncodedCorpus":
        """Memory-map a token file written by `encode_corpus`, after checking it against its sidecar."""
        path = Path(path)
        side = sidecar_path(path)
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{side}: sidecar not found; was {path} written by encode_corpus?") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"{side}: invalid JSON: {err}") from None
        missing = [k for k in ("format", "version", "dtype", "count", "codec") if k not in meta] if isinstance(meta, dict) else ["(everything)"]
        if missing:
            raise InputError(f"{side}: missing key(s) {missing}")
        if meta["format"] != TOKENS_FORMAT or meta["version"] != TOKENS_VERSION:
            raise InputError(f"{side}: not a {TOKENS_FORMAT} v{TOKENS_VERSION} sidecar")
        dtype, count = np.dtype(meta["dtype"]), int(meta["count"])
        if not path.is_file():
            raise InputError(f"{path}: token file not found (its sidecar {side} exists)")
        size = path.stat().st_size
        if size != count * dtype.itemsize:
            raise InputError(f"{path}: {size} bytes, but the sidecar says {count} tokens of {dtype.name} = {count * dtype.itemsize} bytes (truncated or stale?)")
        tokens = np.memmap(path, dtype=dtype, mode="r", shape=(count,))
        return cls(path, tokens, meta["codec"], int(meta.get("unknown_count", 0)), int(meta.get("documents", 0)), str(meta.get("source", "")), meta)


def encode_corpus(
    texts: Iterable[str],
    codec: TokenCodec,
    out_path: str | Path,
    dtype: Any = None,
    progress: bool = True,
    separator: str | None = "\n",
    source: str | None = None,
) -> EncodedCorpus:
    """Encode every text, append `separator` after each (see `_separator_ids`), write `out_path` and
    its sidecar, and return the memory-mapped result. An empty result is an InputError naming the
    source; the files are written under temporary names and renamed only on success."""
    out_path = Path(out_path)
    source = source or _describe(texts)
    dt = _check_dtype(dtype, codec.size) if dtype is not None else choose_dtype(codec.size)
    sep = _separator_ids(codec, separator).astype(dt)
    unknowns: Counter[str] = Counter()
    count = documents = 0
    chunks: list[np.ndarray] = []
    pending = 0
    tmp = out_path.with_name(out_path.name + ".partial")
    bar = _progress(texts, progress, out_path)
    try:
        with open(tmp, "wb") as f:
            for text in bar:
                if not isinstance(text, str):
                    raise InputError(f"{source}: document {documents} is {type(text).__name__}, not str")
                ids = codec.encode_array(text, unknowns).astype(dt, copy=False)
                documents += 1
                for part in (ids, sep):
                    if len(part):
                        chunks.append(part)
                        pending += part.nbytes
                        count += len(part)
                if pending >= FLUSH_BYTES:
                    _write(f, chunks)
                    chunks, pending = [], 0
                    if bar is not texts:
                        bar.set_postfix(tokens=count, refresh=False)
            _write(f, chunks)
        if count == 0:
            raise InputError(f"corpus {source!r} produced 0 tokens ({documents} documents); nothing written to {out_path}")
        os.replace(tmp, out_path)
    finally:
        if bar is not texts:
            bar.close()
        tmp.unlink(missing_ok=True)
    meta = {
        "format": TOKENS_FORMAT,
        "version": TOKENS_VERSION,
        "dtype": dt.name,
        "count": count,
        "documents": documents,
        "source": source,
        "separator": separator,
        "codec": codec.spec(),
        "unknown_count": sum(unknowns.values()),
        "top_unknowns": unknowns.most_common(20),
    }
    sidecar_path(out_path).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    return EncodedCorpus.open(out_path)


def _write(f: Any, chunks: list[np.ndarray]) -> None:
    for c in chunks:
        f.write(np.ascontiguousarray(c).data)


def _progress(texts: Iterable[str], enabled: bool, out_path: Path) -> Any:
    if not enabled:
        return texts
    from tqdm.auto import tqdm

    total = len(texts) if hasattr(texts, "__len__") else None  # type: ignore[arg-type]
    return tqdm(texts, total=total, unit="doc", desc=f"encode -> {out_path.name}", mininterval=0.5)
