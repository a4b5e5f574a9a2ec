"""A linear classifier over word n-grams (NBSVM / TF-IDF + logistic regression), served like any classifier.

The n-grams are read off the word ids the run's codec produces (the same preprocessing pipeline and
vocabulary as the neural classifiers), so prediction goes through the one Predictor path:
texts -> codec -> padded id batches -> `NgramClassifier(ids, lengths).probs`.

An n-gram of ids (w1, ..., wn) is one int64 key, ((w1 * V + w2) * V + ...) * 4 + (n - 1), so the
features of a whole split are found with a few vectorised numpy calls (no Python loop per token)
and looked up in the model's sorted key table with searchsorted:

    tokens  [5 9 9 2 | 7 5 9]        flat ids of two documents (offsets 0 4 7)
    bigrams (5,9) (9,9) (9,2)   (7,5) (5,9)    pairs that would cross the document border are masked

Weighting (what one feature f present c times in a document contributes before the linear layer):

    binary  1                               nb      r_f (binarized; Wang & Manning 2012, NBSVM)
    tfidf   (1 + log c) * idf_f, then the document's vector is scaled to unit L2 norm

With normalize, binary and nb vectors are scaled to unit L2 norm too: a score then no longer grows
with the length of the text, which is what lets a model fitted on 230-word reviews read one sentence.

r_f = log((p_f / |p|_1) / (q_f / |q|_1)), p = alpha + feature counts in positive documents, q in
negative ones. All of it (keys, weights, r or idf, calibration) is stored in model.safetensors.

Character n-grams (`char_ngrams`, e.g. [3, 4, 5]) are those of each word of the vocabulary with
boundary marks, fastText's way: "film" -> "<fi", "fil", "ilm", "lm>", ... Their key is a 56-bit
blake2b hash of the gram with the order tag 3, so they share the one sorted key table with the word
n-grams. A document's character n-grams are its words' (document x word counts @ word x gram map,
one sparse product); the word -> feature map is stored beside the weights, so prediction needs no
vocabulary strings. A word outside the vocabulary reads as <unk> and brings no character n-grams.
"""

from __future__ import annotations

import hashlib
from typing import Literal, NamedTuple, Sequence

import numpy as np
import torch
from pydantic import Field
from torch import nn

from textseq.config import StrictModel
from textseq.errors import ConfigError
from textseq.models.classifier import ClassifierOutput

KEY_LIMIT = 2 ** 60  # keys are shifted left by 2 bits for the order tag; stay clear of int64's sign


class NgramConfig(StrictModel):
    """The stored shape of an n-gram model (what rebuilding it from a checkpoint needs)."""

    kind: Literal["ngram"] = "ngram"
    vocab_size: int = Field(ge=1)  # word ids run below this (the codec's vocabulary)
    num_classes: int = Field(ge=2)
    num_features: int = Field(ge=0)
    ngrams: list[int]  # word n-gram orders, e.g. [1, 2]
    char_ngrams: list[int] = Field(default_factory=list)  # character n-gram orders of each word, e.g. [3, 4, 5]
    num_char_entries: int = Field(0, ge=0)  # (word, feature) pairs of the stored word -> character-gram map
    weighting: Literal["binary", "nb", "tfidf"]
    normalize: bool = False  # each document's vector scaled to unit L2 norm (always, with tfidf)
    pad_id: int = 0
    pooling: str = "none"  # no attention weights to show (Predictor.attention checks this)


class Triplets(NamedTuple):
    """A sparse (documents x features) matrix as parallel arrays: row, column and count of each entry."""

    rows: np.ndarray  # (nnz,) int64 document index
    cols: np.ndarray  # (nnz,) int64 feature index (or n-gram key before lookup)
    counts: np.ndarray  # (nnz,) int64 occurrences in the document
    n_docs: int


def check_key_range(vocab_size: int, ngrams: list[int]) -> None:
    """ConfigError when the largest n-gram key of this vocabulary would not fit in an int64."""
    if ngrams and vocab_size ** max(ngrams) * 4 >= KEY_LIMIT:
        raise ConfigError(f"model.ngrams up to {max(ngrams)} over a {vocab_size:,}-word vocabulary do not fit in 64-bit "
                          "keys; lower the order or data.max_size")


def ngram_keys(tokens: np.ndarray, offsets: np.ndarray, ngrams: list[int], vocab_size: int) -> Triplets:
    """Every distinct n-gram key of every document with its count (cols hold keys, not feature indices)."""
    tokens = tokens.astype(np.int64)
    n_docs = len(offsets) - 1
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(offsets))  # (N_tokens,)
    rows, keys = [], []
    for n in ngrams:
        m = len(tokens) - n + 1
        if m <= 0:
            continue
        key = tokens[:m].copy()
        for j in range(1, n):
            key = key * vocab_size + tokens[j:j + m]
        inside = doc_of[:m] == doc_of[n - 1:n - 1 + m]  # the n-gram does not cross into the next document
        rows.append(doc_of[:m][inside])
        keys.append(key[inside] * 4 + (n - 1))
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return Triplets(empty, empty, empty, n_docs)
    row, key = np.concatenate(rows), np.concatenate(keys)
    # (document, key) pairs made unique with their counts: sort by document, then key
    order = np.lexsort((key, row))
    row, key = row[order], key[order]
    new = np.ones(len(row), dtype=bool)
    new[1:] = (row[1:] != row[:-1]) | (key[1:] != key[:-1])
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, len(row)))
    return Triplets(row[starts], key[starts], counts, n_docs)


class CharMap(NamedTuple):
    """Each word's character n-grams as CSR rows: word w owns cols[indptr[w]:indptr[w + 1]] (keys, or
    feature indices once looked up), each occurring counts[...] times in the word."""

    indptr: np.ndarray  # (V + 1,) int64
    cols: np.ndarray  # (E,) int64
    counts: np.ndarray  # (E,) int64


def char_gram_key(gram: str) -> int:
    """A character n-gram's 58-bit key: a 56-bit blake2b hash of its UTF-8 bytes, order tag 3."""
    return int.from_bytes(hashlib.blake2b(gram.encode("utf-8"), digest_size=7).digest(), "little") * 4 + 3


def char_gram_map(words: Sequence[str | None], orders: Sequence[int]) -> CharMap:
    """The character n-gram keys of each word ("<word>" with boundary marks); None (a special) has none."""
    indptr, cols, counts = [0], [], []
    for word in words:
        grams: dict[int, int] = {}
        if word:
            marked = f"<{word}>"
            for n in orders:
                for i in range(len(marked) - n + 1):
                    key = char_gram_key(marked[i:i + n])
                    grams[key] = grams.get(key, 0) + 1
        cols.extend(grams)
        counts.extend(grams.values())
        indptr.append(len(cols))
    return CharMap(np.asarray(indptr, np.int64), np.asarray(cols, np.int64), np.asarray(counts, np.int64))


def char_triplets(tokens: np.ndarray, offsets: np.ndarray, word_to_col: "csr_matrix") -> Triplets:  # noqa: F821
    """Each document's character n-gram counts (cols: the columns of `word_to_col`, a V x G sparse map)."""
    from scipy.sparse import csr_matrix

    n_docs = len(offsets) - 1
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), np.diff(offsets))
    docs = csr_matrix((np.ones(len(tokens)), (doc_of, tokens.astype(np.int64))), shape=(n_docs, word_to_col.shape[0]))
    grams = (docs @ word_to_col).tocoo()  # (N, G) counts: a word's grams times the word's occurrences
    return Triplets(grams.row.astype(np.int64), grams.col.astype(np.int64), np.rint(grams.data).astype(np.int64), n_docs)


def concat(a: Triplets, b: Triplets) -> Triplets:
    """Two sets of entries of the same documents (the order of entries does not matter to any use)."""
    return Triplets(*(np.concatenate([x, y]) for x, y in zip(a[:3], b[:3])), a.n_docs)  # type: ignore[call-arg]


def lookup(found: Triplets, table: np.ndarray) -> Triplets:
    """Keys -> feature indices in the sorted key `table`; n-grams not in it are dropped."""
    if len(table) == 0:
        return Triplets(found.rows[:0], found.cols[:0], found.counts[:0], found.n_docs)
    pos = np.searchsorted(table, found.cols)
    pos = np.minimum(pos, len(table) - 1)
    hit = table[pos] == found.cols
    return Triplets(found.rows[hit], pos[hit], found.counts[hit], found.n_docs)


def feature_values(t: Triplets, weighting: str, scale: np.ndarray, normalize: bool = False) -> np.ndarray:
    """(nnz,) float64 value of each entry under `weighting` (scale: r for nb, idf for tfidf), L2-normalized
    per document with `normalize` or tfidf."""
    if weighting == "binary":
        values = np.ones(len(t.rows))
    elif weighting == "nb":
        values = scale[t.cols].astype(np.float64)
    else:
        values = (1.0 + np.log(t.counts)) * scale[t.cols]  # sublinear tf * idf
    if weighting != "tfidf" and not normalize:
        return values
    norms = np.sqrt(np.bincount(t.rows, weights=values ** 2, minlength=t.n_docs))
    return values / np.maximum(norms[t.rows], 1e-12)


class NgramClassifier(nn.Module):
    """Linear scores over n-gram features, then a sigmoid (two classes) or softmax; inference only."""

    def __init__(self, config: NgramConfig) -> None:
        super().__init__()
        self.config = config
        f, out = config.num_features, 1 if config.num_classes == 2 else config.num_classes
        self.register_buffer("keys", torch.zeros(f, dtype=torch.int64))  # (F,) sorted n-gram keys
        self.register_buffer("scale", torch.ones(f))  # (F,) r (nb), idf (tfidf) or ones
        self.weight = nn.Parameter(torch.zeros(f, out), requires_grad=False)  # (F, K); K=1 for two classes
        self.bias = nn.Parameter(torch.zeros(out), requires_grad=False)  # (K,)
        # probability = sigmoid/softmax(calibration[0] * score + calibration[1]); (1, 0) for logistic regression
        self.register_buffer("calibration", torch.tensor([1.0, 0.0]))
        if config.char_ngrams:  # word id -> feature indices of its character n-grams (CharMap, looked up)
            e = config.num_char_entries
            self.register_buffer("char_indptr", torch.zeros(config.vocab_size + 1, dtype=torch.int64))
            self.register_buffer("char_cols", torch.zeros(e, dtype=torch.int64))
            self.register_buffer("char_counts", torch.zeros(e, dtype=torch.int64))
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._char_matrix: "csr_matrix | None" = None  # noqa: F821

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._cache is None:  # numpy views, made once: prediction runs in numpy
            self._cache = (self.keys.cpu().numpy(), self.scale.cpu().numpy().astype(np.float64),
                           self.weight.detach().cpu().numpy().astype(np.float64))
        return self._cache

    def char_matrix(self) -> "csr_matrix":  # noqa: F821
        """The stored word -> character-gram features map as a (V, F) sparse matrix (made once)."""
        if self._char_matrix is None:
            from scipy.sparse import csr_matrix

            c = self.config
            self._char_matrix = csr_matrix((self.char_counts.numpy().astype(np.float64), self.char_cols.numpy(),
                                            self.char_indptr.numpy()), shape=(c.vocab_size, c.num_features))
        return self._char_matrix

    def load_state_dict(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._cache, self._char_matrix = None, None
        return super().load_state_dict(*args, **kwargs)

    def features(self, tokens: np.ndarray, offsets: np.ndarray) -> Triplets:
        """Documents given as flat ids + offsets -> their (document, feature index, count) entries."""
        c = self.config
        t = lookup(ngram_keys(tokens, offsets, c.ngrams, c.vocab_size), self._arrays()[0])
        return concat(t, char_triplets(tokens, offsets, self.char_matrix())) if c.char_ngrams else t

    def scores(self, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(N, K) linear scores of documents given as flat ids + offsets."""
        _, scale, weight = self._arrays()
        c = self.config
        t = self.features(tokens, offsets)
        values = feature_values(t, c.weighting, scale, c.normalize)
        out = np.zeros((t.n_docs, weight.shape[1]))
        for k in range(weight.shape[1]):
            out[:, k] = np.bincount(t.rows, weights=values * weight[t.cols, k], minlength=t.n_docs)
        return out + self.bias.detach().cpu().numpy()

    def probabilities(self, scores: np.ndarray) -> np.ndarray:
        """(N, C) class probabilities from (N, K) scores, through the calibration."""
        a, b = (float(v) for v in self.calibration)
        z = a * scores + b
        if z.shape[1] == 1:
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1.0 - p1, p1], axis=1)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> ClassifierOutput:
        """ids (B, T) padded, lengths (B,) -> probabilities (B, C); logits are log-probabilities."""
        ids_np, lens = ids.cpu().numpy(), lengths.cpu().numpy().astype(np.int64)
        mask = np.arange(ids_np.shape[1])[None, :] < lens[:, None]  # (B, T)
        offsets = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        probs = torch.as_tensor(self.probabilities(self.scores(ids_np[mask], offsets)), dtype=torch.float32)  # (B, C)
        return ClassifierOutput(torch.log(probs.clamp_min(1e-12)), probs.to(ids.device))
