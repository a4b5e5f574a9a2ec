"""Pretrained vectors -> an embedding matrix aligned to a vocabulary, with a stated OOV policy.

    for each vocabulary word:   exact match
                                else the lower-cased word (lowercase_fallback=True)
                                else the OOV policy:
                                  zeros      a zero row
                                  random     N(mean, std) per dimension, from the vectors found
                                             (random rows then have the scale of the real ones)
                                  subword    fastText n-gram vector (vectors from a fastText .bin)
                                  charngram  a callable words -> (n, D) tensor (e.g. CharNgramEmbedding)
    specials (<pad>, <unk>, ...): zeros (pad is always zero; specials="oov" gives the others the OOV policy)

A vocabulary with no word in the vectors is an error, never a silent all-zero/all-random matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from textseq.embeddings.vectors import Vectors
from textseq.errors import ConfigError, InputError

OOV_POLICIES = ("random", "zeros", "subword", "charngram")
SPECIAL_POLICIES = ("zeros", "oov")


@dataclass
class Coverage:
    """How much of a vocabulary the vectors cover. Counts are over non-special words."""

    total: int
    found: int  # exact matches
    found_lowercase: int  # matched only after lower-casing
    missing: int  # filled by the OOV policy
    oov: str
    specials: int = 0
    top_missing: list[tuple[str, int | None]] = field(default_factory=list)  # by frequency when counts are known
    token_rate: float | None = None  # share of corpus tokens (by vocab counts) with a pretrained vector
    source: str = ""

    @property
    def rate(self) -> float:
        """Share of vocabulary words that got a pretrained vector (exact or lower-cased)."""
        return (self.found + self.found_lowercase) / self.total if self.total else 0.0

    def summary(self) -> str:
        """One line: 'coverage 93.1% of 20,000 words (18,600 exact, 12 lower-cased); 1,388 missing -> random; ...'."""
        parts = [f"coverage {self.rate:.1%} of {self.total:,} words ({self.found:,} exact, {self.found_lowercase:,} lower-cased)"]
        if self.token_rate is not None:
            parts.append(f"{self.token_rate:.1%} of tokens")
        parts.append(f"{self.missing:,} missing -> {self.oov}")
        if self.top_missing:
            shown = ", ".join(w if n is None else f"{w} ({n:,})" for w, n in self.top_missing[:10])
            parts.append(f"most frequent missing: {shown}" if self.top_missing[0][1] is not None else f"first missing: {shown}")
        return "; ".join(parts)


def _vocab_words(vocab: Any) -> tuple[list[str], set[str], str | None, Mapping[str, int] | None]:
    """(words, special tokens, pad token, counts) from a Vocab, a word->count mapping or a word list."""
    if hasattr(vocab, "itos") and hasattr(vocab, "specials"):
        return list(vocab.itos), set(vocab.specials.values()), vocab.specials.get("pad"), getattr(vocab, "counts", None)
    if isinstance(vocab, Mapping):
        return list(vocab), set(), None, vocab
    if isinstance(vocab, str):
        raise ConfigError("embedding_matrix needs a Vocab or a list of words, not a string")
    return list(vocab), set(), None, None


def embedding_matrix(
    vocab: Any,
    vectors: Vectors,
    oov: str = "random",
    lowercase_fallback: bool = True,
    seed: int = 0,
    specials: str = "zeros",
    charngram_module: Callable[[Sequence[str]], Any] | None = None,
    top_missing: int = 20,
) -> tuple[Any, Coverage]:
    """A (len(vocab), D) float tensor whose row i is the vector of vocab word i, and its Coverage.

    `vocab` is a textseq Vocab (specials and counts are used), a {word: count} mapping or a list."""
    import torch

    if oov not in OOV_POLICIES:
        raise ConfigError(f"unknown oov policy {oov!r}; valid: {', '.join(OOV_POLICIES)}")
    if specials not in SPECIAL_POLICIES:
        raise ConfigError(f"unknown specials policy {specials!r}; valid: {', '.join(SPECIAL_POLICIES)}")
    if oov == "subword" and not vectors.has_subwords:
        raise ConfigError(f"oov='subword' needs fastText vectors with subword n-grams (a fastText .bin); {vectors.source} has none")
    if oov == "charngram" and charngram_module is None:
        raise ConfigError("oov='charngram' needs charngram_module (a callable words -> (n, D) tensor)")
    words, special_set, pad, counts = _vocab_words(vocab)
    out = np.zeros((len(words), vectors.dim), dtype=np.float32)  # (V, D)
    rows, src = [], []  # vocab rows with a vector, and their row in `vectors`
    n_exact = n_lower = 0
    missing: list[int] = []
    n_specials = 0
    for i, w in enumerate(words):
        if w in special_set:
            n_specials += 1
            if specials == "oov" and w != pad:
                missing.append(i)
            continue
        j = vectors.index.get(w)
        if j is not None:
            n_exact += 1
        elif lowercase_fallback and (j := vectors.index.get(w.lower())) is not None:
            n_lower += 1
        else:
            missing.append(i)
            continue
        rows.append(i)
        src.append(j)
    total = len(words) - n_specials
    if total == 0:
        raise InputError(f"the vocabulary has no words besides its {n_specials} specials")
    if not rows:
        plain = [w for w in words if w not in special_set]
        raise InputError(f"none of the {total:,} vocabulary words are in vectors {vectors.source} ({len(vectors):,} words); "
                         f"first vocabulary words: {', '.join(map(repr, plain[:8]))}; first vector words: "
                         f"{', '.join(map(repr, vectors.words[:8]))}. Check tokenization, casing and language.")
    out[rows] = vectors.matrix[np.asarray(src)]
    if missing:
        out[missing] = _fill(oov, [words[i] for i in missing], out[rows], vectors, seed, charngram_module)
    n_missing = len([i for i in missing if words[i] not in special_set])
    coverage = Coverage(total=total, found=n_exact, found_lowercase=n_lower, missing=n_missing, oov=oov,
                        specials=n_specials, source=vectors.source)
    plain_missing = [words[i] for i in missing if words[i] not in special_set]
    if counts:
        ranked = sorted(plain_missing, key=lambda w: -counts.get(w, 0))
        coverage.top_missing = [(w, int(counts.get(w, 0))) for w in ranked[:top_missing]]
        all_tokens = sum(int(counts.get(w, 0)) for w in words if w not in special_set)
        missed = sum(int(counts.get(w, 0)) for w in plain_missing)
        coverage.token_rate = 1 - missed / all_tokens if all_tokens else None
    else:
        coverage.top_missing = [(w, None) for w in plain_missing[:top_missing]]
    return torch.from_numpy(out), coverage


def _fill(oov: str, words: list[str], found: np.ndarray, vectors: Vectors, seed: int,
          charngram_module: Callable | None) -> np.ndarray:
    """Rows for the words without a pretrained vector, per the OOV policy."""
    dim = vectors.dim
    if oov == "zeros":
        return np.zeros((len(words), dim), dtype=np.float32)
    if oov == "random":
        if len(found) < 2:  # too few to estimate a spread: use (a sample of) all vectors
            found = np.asarray(vectors.matrix[: 100_000])
        mean, std = found.mean(axis=0), found.std(axis=0)  # (D,), (D,)
        rng = np.random.default_rng(seed)
        return (rng.standard_normal((len(words), dim)) * std + mean).astype(np.float32)
    if oov == "subword":
        return np.stack([vectors.subword_vector(w) for w in words]).astype(np.float32)
    import torch

    with torch.no_grad():
        got = charngram_module(words)  # type: ignore[misc]
    got = got.detach().cpu().numpy() if hasattr(got, "detach") else np.asarray(got)
    if got.shape != (len(words), dim):
        raise InputError(f"charngram_module returned shape {tuple(got.shape)} for {len(words)} words; expected ({len(words)}, {dim})")
    return got.astype(np.float32)
