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
"""

from __future__ import annotations

from typing import Literal, NamedTuple

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
    if vocab_size ** max(ngrams) * 4 >= KEY_LIMIT:
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
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._cache is None:  # numpy views, made once: prediction runs in numpy
            self._cache = (self.keys.cpu().numpy(), self.scale.cpu().numpy().astype(np.float64),
                           self.weight.detach().cpu().numpy().astype(np.float64))
        return self._cache

    def load_state_dict(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._cache = None
        return super().load_state_dict(*args, **kwargs)

    def scores(self, tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(N, K) linear scores of documents given as flat ids + offsets."""
        keys, scale, weight = self._arrays()
        c = self.config
        t = lookup(ngram_keys(tokens, offsets, c.ngrams, c.vocab_size), keys)
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
