"""Classification data: documents -> token ids -> padded, length-bucketed batches.

    Document(text, id, label) --codec--> ids      (textseq.codecs.classification_codec: pipeline,
                                                   truncation, vocab; an empty text is one <unk>)
    labels (strings or integers) --LabelSet--> class indices 0..C-1

An encoded split is three flat numpy arrays (saved as RUN_DIR/data/SPLIT.npz, no pickle):

    tokens   (N_tokens,) int32   every document's ids, one after the other
    offsets  (N_docs+1,) int64   document i is tokens[offsets[i]:offsets[i+1]] (never empty)
    labels   (N_docs,)   int64   class index, or -1 when the split has no labels

Training batches (BucketBatches) shuffle with a generator seeded by (seed, epoch), sort chunks of
`chunk_batches` batches by length, cut them into batches and shuffle the batch order:

    perm:    d7 d2 d9 d4 d1 d8 | d3 d6 d0 d5 ...        chunk = chunk_batches * batch_size documents
    sorted:  d9 d1 d7 d4 d8 d2 | ...                     longest first within the chunk
    batches: [d9 d1] [d7 d4] [d8 d2] ...                 padded to the longest in the batch
    order:   shuffled with the same generator

so padding stays small and the plan of an epoch is a pure function of (seed, epoch): a resumed
run recomputes it and skips the batches already handed out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from textseq.errors import ConfigError, InputError
from textseq.models.classifier import ClassificationBatch
from textseq.train.protocol import check_batch_state
from textseq.truncation import EncodeStats  # stored with each split; defined beside the codec that counts it

_INT_LABEL = re.compile(r"^\s*[+-]?\d+\s*$")


# --------------------------------------------------------------------------------- labels
def label_kind(label: Any) -> str:
    """'int' for integers and integer strings ("3", "-1"), 'str' for any other string."""
    if isinstance(label, bool):
        return "str"
    if isinstance(label, (int, np.integer)):
        return "int"
    return "int" if _INT_LABEL.match(str(label)) else "str"


@dataclass
class LabelSet:
    """The classes of a task, in index order; stored with the model as a JSON list of strings.

    Integer labels (1, "1", "-1") sort numerically, string labels alphabetically; one task never
    mixes the two, since "1" next to "pos" almost always means a broken column."""

    labels: list[str]

    def __post_init__(self) -> None:
        self.labels = [str(x) for x in self.labels]
        self.index = {label: i for i, label in enumerate(self.labels)}
        if len(self.index) != len(self.labels):
            raise InputError(f"duplicate labels in {self.labels}")

    @classmethod
    def from_labels(cls, labels: Iterable[Any], ids: Iterable[str] | None = None, where: str = "training data") -> "LabelSet":
        """The sorted distinct labels; InputError naming the row when integers and strings are mixed."""
        first: dict[str, tuple[Any, str]] = {}  # kind -> (label, row id) where it first occurred
        seen: set[str] = set()
        rows = iter(ids) if ids is not None else (f"row {i}" for i in range(1 << 62))
        for label, row in zip(labels, rows):
            if label is None:
                raise InputError(f"{row}: no label (an empty label cell?) in {where}")
            kind = label_kind(label)
            if kind not in first and first:
                other = "str" if kind == "int" else "int"
                was, was_row = first[other]
                raise InputError(f"{row}: label {label!r} is {_kind_name(kind)}, but {was_row} has {_kind_name(other)} "
                                 f"label {was!r}; the labels of one task must be all integers or all strings")
            first.setdefault(kind, (label, row))
            seen.add(label_key(label))
        if not seen:
            raise InputError(f"{where}: no labelled documents")
        ordered = sorted(seen, key=int) if "int" in first else sorted(seen)
        if len(ordered) < 2:
            raise InputError(f"{where}: only one class ({ordered[0]!r}); a classifier needs at least two")
        return cls(ordered)

    def __len__(self) -> int:
        return len(self.labels)

    def encode(self, label: Any) -> int | None:
        """Class index of `label`, or None when it is not one of the classes."""
        return self.index.get(label_key(label)) if label is not None else None


def label_key(label: Any) -> str:
    """A label's canonical string: 1, "1", " 01" and "+1" are all "1"; other strings stay as they are."""
    return str(int(str(label).strip())) if label_kind(label) == "int" else str(label)


def balanced_weights(labels: np.ndarray, n_classes: int) -> list[float]:
    """scikit-learn's 'balanced' class weights: n_samples / (n_classes * count_c)."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    if (counts == 0).any():
        raise InputError(f"class_weights=balanced: class index {int(np.argmin(counts))} has no training example")
    return (len(labels) / (n_classes * counts)).tolist()


# --------------------------------------------------------------------------------- encoded splits
@dataclass
class EncodedSplit:
    """Documents as flat id arrays (see the module docstring)."""

    tokens: np.ndarray  # (N_tokens,) int32
    offsets: np.ndarray  # (N_docs + 1,) int64
    labels: np.ndarray  # (N_docs,) int64, -1 = no label
    stats: EncodeStats = field(default_factory=EncodeStats)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def ids(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i]:self.offsets[i + 1]]

    @classmethod
    def from_lists(cls, docs: Sequence[Sequence[int]], labels: Sequence[int] | None = None,
                   stats: EncodeStats | None = None) -> "EncodedSplit":
        """Build from per-document id lists (each non-empty)."""
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        if (lengths == 0).any():
            raise InputError(f"document {int(np.argmin(lengths))} has no ids; encode an empty text as one <unk>")
        offsets = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        tokens = np.fromiter((i for d in docs for i in d), dtype=np.int32, count=int(offsets[-1]))
        lab = np.full(len(docs), -1, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
        return cls(tokens, offsets, lab, stats or EncodeStats())

    def save(self, path: str | Path) -> Path:
        """SPLIT.npz (plain arrays, loaded without pickle)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, tokens=self.tokens, offsets=self.offsets, labels=self.labels)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "EncodedSplit":
        try:
            with np.load(path, allow_pickle=False) as f:
                return cls(f["tokens"], f["offsets"], f["labels"])
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"{path}: unreadable encoded split: {err}") from None


def auto_workers(n_docs: int, requested: int = 0) -> int:
    """Worker processes for the pipeline: `requested` when > 0; else 1 for small inputs (a worker
    costs a second or two to start) and up to 4 (the cores) for large ones."""
    import os

    if requested > 0:
        return requested
    return 1 if n_docs < 2000 else max(1, min(4, os.cpu_count() or 1))


# --------------------------------------------------------------------------------- batches
def pad_batch(split: EncodedSplit, rows: np.ndarray, pad_id: int = 0) -> ClassificationBatch:
    """Documents `rows` of `split` as a batch padded to its longest document."""
    lengths = split.lengths[rows]  # (B,)
    ids = np.full((len(rows), int(lengths.max()) if len(rows) else 1), pad_id, dtype=np.int64)  # (B, T)
    for r, (doc, n) in enumerate(zip(rows, lengths)):
        start = split.offsets[doc]
        ids[r, :n] = split.tokens[start:start + n]
    labels = np.maximum(split.labels[rows], 0)  # unlabelled (-1) rows: a dummy class, for prediction only
    return ClassificationBatch(torch.from_numpy(ids), torch.from_numpy(lengths.astype(np.int64)), torch.from_numpy(labels))


def crop_rows(split: EncodedSplit, rows: np.ndarray, prob: float, min_tokens: int, rng: np.random.Generator) -> EncodedSplit:
    """Documents `rows` as a new split, each replaced with probability `prob` by a random window of
    its tokens: a length drawn log-uniformly between min_tokens and its own length (short windows as
    often as long ones, so a model trained on reviews also sees sentence-sized inputs), a random start."""
    docs, lengths = [], split.lengths[rows]
    for doc, n in zip(rows, lengths):
        ids = split.ids(int(doc))
        if n > min_tokens and rng.random() < prob:
            size = int(round(np.exp(rng.uniform(np.log(min_tokens), np.log(n)))))
            start = int(rng.integers(0, n - size + 1))
            ids = ids[start:start + size]
        docs.append(ids)
    return EncodedSplit.from_lists(docs, split.labels[rows])


class BucketBatches:
    """Shuffled, length-bucketed training batches; implements textseq.train.protocol.Batches.

    `set_epoch(e)` moves to epoch e at batch 0 (a no-op when already in epoch e, so calling it after
    `load_state_dict` keeps a resumed position); finishing an epoch moves to the next one."""

    def __init__(self, split: EncodedSplit, batch_size: int, seed: int = 0, chunk_batches: int = 50,
                 pad_id: int = 0, shuffle: bool = True, crop: tuple[float, int] | None = None) -> None:
        if batch_size < 1 or chunk_batches < 1:
            raise ConfigError(f"batch_size and chunk_batches must be >= 1, got {batch_size} and {chunk_batches}")
        if len(split) == 0:
            raise InputError("no training documents to batch")
        self.split, self.batch_size, self.seed = split, batch_size, seed
        self.chunk_batches, self.pad_id, self.shuffle = chunk_batches, pad_id, shuffle
        self.crop = crop  # (probability, min_tokens): see crop_rows
        self.epoch, self.position = 0, 0
        self.rank, self.world_size = 0, 1

    def shard(self, rank: int, world_size: int) -> None:
        """Train this rank's part of each batch of the plan one process would make at batch world_size*B."""
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return math.ceil(len(self.split) / (self.batch_size * self.world_size))

    def plan(self, epoch: int | None = None) -> list[np.ndarray]:
        """This rank's batches (arrays of document indices) of `epoch`, in the order they are handed out.

        Several ranks: each batch of world_size*B documents (longest first) is dealt out in turn,
        rank r taking documents r, r+W, r+2W, ... (so the ranks get texts of about the same lengths
        and finish their parts at about the same time), every rank takes the same number of steps and
        each document is trained once per epoch. A batch of fewer documents than ranks (the end of a
        chunk) is padded by repetition: a rank without a document of its own repeats one."""
        epoch = self.epoch if epoch is None else epoch
        if self.world_size > 1:
            return [self._part(b) for b in self._plan(epoch, self.batch_size * self.world_size)]
        return self._plan(epoch, self.batch_size)

    def _part(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) < self.world_size:
            return batch[[self.rank % len(batch)]]
        return batch[self.rank::self.world_size]

    def _plan(self, epoch: int, batch_size: int) -> list[np.ndarray]:
        n, lengths = len(self.split), self.split.lengths
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        chunk = batch_size * self.chunk_batches
        batches: list[np.ndarray] = []
        for start in range(0, n, chunk):
            part = order[start:start + chunk]
            part = part[np.argsort(-lengths[part], kind="stable")]  # longest first
            batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def __iter__(self) -> Iterator[ClassificationBatch]:
        plan = self.plan()
        while self.position < len(plan):
            rows = plan[self.position]
            self.position += 1  # counted before yielding: state_dict() now points at the next batch
            if self.crop is None:
                yield pad_batch(self.split, rows, self.pad_id)
            else:  # the crops of a batch depend on (seed, epoch, batch) only, so a resume draws the same ones
                rng = np.random.default_rng([self.seed, self.epoch, self.position, 7])
                yield pad_batch(crop_rows(self.split, rows, *self.crop, rng), np.arange(len(rows)), self.pad_id)
        self.epoch, self.position = self.epoch + 1, 0

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "batch_size": self.batch_size,
                "chunk_batches": self.chunk_batches, "shuffle": self.shuffle, "documents": len(self.split),
                **({"world_size": self.world_size} if self.world_size > 1 else {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_batch_state(state, self.state_dict(), ("seed", "batch_size", "chunk_batches", "shuffle", "documents", "world_size"))
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


def eval_batches(split: EncodedSplit, batch_size: int, pad_id: int = 0) -> Iterator[tuple[ClassificationBatch, np.ndarray]]:
    """Every document once, longest first (little padding), no shuffling: (batch, its rows in the
    split's original order), so results can be put back in input order."""
    order = np.argsort(-split.lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        yield pad_batch(split, rows, pad_id), rows


def _kind_name(kind: str) -> str:
    return "an integer" if kind == "int" else "a string"
