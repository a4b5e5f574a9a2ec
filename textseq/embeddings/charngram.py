"""Character n-gram word embeddings: a word is the bag of its hashed character n-grams.

    "where", n=3 -> <wh whe her ere re>  plus the whole word <where>
                 -> fastText hash of each (UTF-8 bytes) mod buckets -> EmbeddingBag (sum | mean)

The hash is fastText's own (32-bit FNV-1a over UTF-8 bytes, each byte sign-extended as fastText's
`int8_t` cast does), so ids are identical across processes and runs (Python's `hash` is salted) and
identical to gensim's FastText buckets: `CharNgramEmbedding.from_fasttext` loads a trained model's
n-gram table and reproduces its out-of-vocabulary vectors, then keeps training inside a model.
N-grams are taken over Unicode characters, not bytes, as in fastText.

`FastTextOOV` is the other route: any string, seen or not, gets a vector from a trained FastText
model loaded from Facebook's binary format (gensim computes unseen words from their n-grams).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
BOW, EOW = "<", ">"


def ft_hash(data: bytes) -> int:
    """fastText's string hash (FNV-1a, 32 bits, bytes sign-extended); equals gensim's ft_hash_bytes."""
    h = FNV_OFFSET
    for b in data:
        h ^= b | 0xFFFFFF00 if b >= 0x80 else b
        h = (h * FNV_PRIME) & 0xFFFFFFFF
    return h


def ft_hash_batch(items: Sequence[bytes]) -> np.ndarray:
    """`ft_hash` of many byte strings at once -> (N,) uint32.

    Vectorised across strings: step k updates, in one numpy operation, every string longer than k
    bytes (strings are visited shortest first, so those are a suffix of the sorted order)."""
    n = len(items)
    if n == 0:
        return np.empty(0, dtype=np.uint32)
    lengths = np.fromiter((len(s) for s in items), dtype=np.int64, count=n)
    starts = np.cumsum(lengths) - lengths  # (N,) offset of each string in `flat`
    flat = np.frombuffer(b"".join(items), dtype=np.uint8)
    signed = flat.astype(np.uint32)
    signed[flat >= 0x80] |= np.uint32(0xFFFFFF00)  # fastText casts each byte through int8_t
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    h = np.full(n, FNV_OFFSET, dtype=np.uint32)
    prime = np.uint32(FNV_PRIME)
    for k in range(int(sorted_lengths[-1])):
        live = order[np.searchsorted(sorted_lengths, k, side="right"):]  # strings with more than k bytes
        h[live] = (h[live] ^ signed[starts[live] + k]) * prime  # uint32 arithmetic wraps, as in C
    return h


def char_ngrams(word: str, n_min: int = 3, n_max: int = 6, include_word: bool = True) -> list[str]:
    """The character n-grams of `word` with boundary markers (and `<word>` itself, once)."""
    marked = BOW + word + EOW
    out = []
    for i in range(len(marked)):
        for n in range(n_min, n_max + 1):
            if i + n > len(marked):
                break
            gram = marked[i:i + n]
            if n == 1 and gram in (BOW, EOW):  # as fastText: the bare markers are not n-grams
                continue
            out.append(gram)
    if include_word and marked not in out:
        out.append(marked)
    return out


class CharNgramEmbedding(nn.Module):
    """Word vectors as the sum or mean of hashed character n-gram vectors; trainable in a model.

    forward(words) -> (N, dim); forward_ids(offsets, ngram_ids) for precomputed ids."""

    def __init__(self, dim: int, n_min: int = 3, n_max: int = 6, buckets: int = 2**18,
                 mode: Literal["sum", "mean"] = "mean", include_word: bool = True, cache_size: int = 1 << 20) -> None:
        super().__init__()
        if not 1 <= n_min <= n_max:
            raise ValueError(f"need 1 <= n_min <= n_max, got n_min={n_min}, n_max={n_max}")
        if mode not in ("sum", "mean"):
            raise ValueError(f"mode must be 'sum' or 'mean', got {mode!r}")
        self.dim, self.n_min, self.n_max, self.buckets = dim, n_min, n_max, buckets
        self.mode, self.include_word, self.cache_size = mode, include_word, cache_size
        self.bag = nn.EmbeddingBag(buckets, dim, mode=mode)
        nn.init.uniform_(self.bag.weight, -1.0 / dim, 1.0 / dim)
        self._cache: dict[str, np.ndarray] = {}

    def extra_repr(self) -> str:
        return (f"dim={self.dim}, n={self.n_min}..{self.n_max}, buckets={self.buckets}, mode={self.mode}, "
                f"include_word={self.include_word}")

    def ngram_ids(self, word: str) -> np.ndarray:
        """The bucket ids of `word`'s n-grams (cached); empty when the word has none."""
        return self._ids_of([word])[0]

    def _ids_of(self, words: Sequence[str]) -> list[np.ndarray]:
        missing = list(dict.fromkeys(w for w in words if w not in self._cache))
        if missing:
            grams = [char_ngrams(w, self.n_min, self.n_max, self.include_word) for w in missing]
            hashes = ft_hash_batch([g.encode("utf-8") for gs in grams for g in gs]).astype(np.int64) % self.buckets
            if len(self._cache) + len(missing) > self.cache_size:
                self._cache.clear()
            pos = 0
            for w, gs in zip(missing, grams):
                self._cache[w] = hashes[pos:pos + len(gs)]
                pos += len(gs)
        return [self._cache[w] for w in words]

    def encode(self, words: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(offsets (N,), ngram_ids (total,)) for `forward_ids`."""
        ids = self._ids_of(words)
        lengths = np.fromiter((len(a) for a in ids), dtype=np.int64, count=len(ids))
        offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(ids) else np.empty(0, np.int64)
        flat = np.concatenate(ids) if ids else np.empty(0, np.int64)
        return torch.from_numpy(offsets.astype(np.int64)), torch.from_numpy(flat.astype(np.int64))

    def forward(self, words: Sequence[str]) -> torch.Tensor:
        """Vectors of `words`: (N, dim). A word without n-grams (only when include_word=False) gets zeros."""
        offsets, flat = self.encode(words)
        return self.forward_ids(offsets.to(self.bag.weight.device), flat.to(self.bag.weight.device))

    def forward_ids(self, offsets: torch.Tensor, ngram_ids: torch.Tensor) -> torch.Tensor:
        """EmbeddingBag over precomputed ids: bag k is ngram_ids[offsets[k]:offsets[k+1]] -> (N, dim)."""
        return self.bag(ngram_ids, offsets)  # (N, dim)

    @classmethod
    def from_fasttext(cls, ft_vectors, trainable: bool = True) -> CharNgramEmbedding:
        """A mean-mode module holding a trained FastText model's n-gram table (gensim
        FastTextKeyedVectors); its output for any word equals FastText's out-of-vocabulary vector."""
        table = np.asarray(ft_vectors.vectors_ngrams, dtype=np.float32)
        module = cls(table.shape[1], ft_vectors.min_n, ft_vectors.max_n, table.shape[0], mode="mean", include_word=False)
        with torch.no_grad():
            module.bag.weight.copy_(torch.from_numpy(table))
        module.bag.weight.requires_grad_(trainable)
        return module


class FastTextOOV:
    """Vectors for any string from a trained FastText model (in-vocabulary: the trained vector;
    unseen: the mean of its n-gram vectors; no n-grams at all: zeros, as fastText does)."""

    def __init__(self, ft_vectors) -> None:
        self.kv = ft_vectors
        self.dim = int(ft_vectors.vector_size)

    @classmethod
    def load(cls, path: str | Path) -> FastTextOOV:
        """Load Facebook's binary format (.bin) with gensim: no pickle involved."""
        from gensim.models.fasttext import load_facebook_vectors

        return cls(load_facebook_vectors(str(path)))

    def __call__(self, word: str) -> np.ndarray:
        """A (dim,) float32 vector for `word`."""
        return fasttext_vector(self.kv, word)

    def vectors(self, words: Sequence[str]) -> np.ndarray:
        """(N, dim) float32 vectors for `words`."""
        out = np.zeros((len(words), self.dim), dtype=np.float32)
        for k, w in enumerate(words):
            out[k] = fasttext_vector(self.kv, w)
        return out


def fasttext_vector(ft_vectors, word: str) -> np.ndarray:
    """FastText's vector for any string, seen or not, as (dim,) float32."""
    if word not in ft_vectors.key_to_index and (
            ft_vectors.bucket == 0 or not char_ngrams(word, ft_vectors.min_n, ft_vectors.max_n, include_word=False)):
        return np.zeros(ft_vectors.vector_size, dtype=np.float32)  # as fastText, without gensim's warning per call
    return np.asarray(ft_vectors[word], dtype=np.float32)
