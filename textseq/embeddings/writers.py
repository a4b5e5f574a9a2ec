"""Writers for the word-vector file formats that formats.py reads: GloVe and word2vec text (plain or
gzipped) and word2vec binary. Only words without ASCII whitespace can be written to these formats;
the textseq directory format (vectors.py) holds any word."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from textseq.embeddings.formats import BLOCK_BYTES
from textseq.errors import InputError


def _check_words(words: Iterable[str], path: Path) -> None:
    for i, w in enumerate(words):
        if not w or any(c in w for c in " \t\n\r\x0b\x0c"):
            raise InputError(f"cannot write {path}: word {i} ({w!r}) is empty or contains ASCII whitespace, which text "
                             "vector formats cannot represent; save in the textseq directory format instead")


def write_text(path: Path, words: Sequence[str], matrix: np.ndarray, header: bool) -> None:
    """GloVe text (header=False) or word2vec text (header=True); gzipped when the name ends in .gz.
    Numbers are written in their shortest form that reads back to the same float32."""
    _check_words(words, path)
    opener = gzip.open if path.suffix == ".gz" else open
    step = max(1, BLOCK_BYTES // max(1, matrix.shape[1] * 4))
    with opener(path, "wt", encoding="utf-8", newline="\n") as f:
        if header:
            f.write(f"{len(words)} {matrix.shape[1]}\n")
        for start in range(0, len(words), step):
            block = np.asarray(matrix[start:start + step], dtype=np.float32)
            f.write("".join(f"{w} {' '.join(map(str, row))}\n" for w, row in zip(words[start:start + step], block)))


def write_word2vec_binary(path: Path, words: Sequence[str], matrix: np.ndarray) -> None:
    """word2vec binary: header, then `word b' ' float32 x D b'\\n'` per word."""
    _check_words(words, path)
    with open(path, "wb") as f:
        f.write(f"{len(words)} {matrix.shape[1]}\n".encode())
        for i, w in enumerate(words):
            f.write(w.encode("utf-8") + b" " + np.asarray(matrix[i], dtype="<f4").tobytes() + b"\n")
