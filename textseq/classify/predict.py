"""Use a trained classifier: load a run dir (or checkpoint) and label texts, quickly.

    predictor = Predictor.load("runs/imdb-bilstm")                 # best/ checkpoint, CPU
    predictor.predict(["A wonderful film.", "Dull."])
    # [{"label": "pos", "probs": {"neg": 0.03, "pos": 0.97}}, {"label": "neg", "probs": {...}}]
    evaluate_classifier("runs/imdb-bilstm", "imdb:test")           # accuracy, macro_f1, confusion, ...

Speed: texts stream through the pipeline in batches (worker processes for large inputs) and the
model labels them chunk by chunk, in batches of 64 (faster on a CPU than larger ones); very long
texts are cut before the pipeline, documents are sorted by length inside a chunk so batches carry
little padding, and the model runs under torch.inference_mode. The run opens through textseq.runs.load_run.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from itertools import islice
from typing import Any, BinaryIO, Iterable, Iterator, Sequence

import numpy as np
import torch

from textseq.classify.metrics import classification_report
from textseq.classify.task import PREDICT_BATCH, predict_probs
from textseq.codecs import WordCodec
from textseq.data.classification import EncodedSplit, LabelSet, auto_workers
from textseq.errors import InputError
from textseq.runs import Run
from textseq.train.device import check_precision
from textseq.truncation import EncodeStats

log = logging.getLogger(__name__)


@dataclass
class Predictor:
    """A classifier with everything needed to go from raw text to labels."""

    model: torch.nn.Module
    codec: WordCodec  # pipeline, vocab and truncation: the text -> ids the model was trained on
    labels: LabelSet
    path: Path  # the checkpoint directory
    device: torch.device
    precision: str = "fp32"  # or bf16 (autocast, CPU too) / fp16 (CUDA only)

    @classmethod
    def load(cls, run_dir: str | Path, checkpoint: str = "best", device: str = "cpu",
             precision: str = "fp32") -> "Predictor":
        """The best (or latest, or a named) checkpoint of a `textseq train-classifier` run."""
        from textseq.runs import load_run

        return cls.from_run(load_run(run_dir, checkpoint, device, task="classify"), precision)

    @classmethod
    def from_run(cls, run: Run, precision: str = "fp32") -> "Predictor":
        """A predictor over a classifier opened with textseq.runs.load_run."""
        device = next(run.model.parameters()).device
        check_precision(device, precision)
        return cls(run.model, run.codec, LabelSet(run.labels or []), run.path, device, precision)

    @property
    def pad_id(self) -> int:
        return int(self.model.config.pad_id)

    def encode(self, texts: Sequence[str], workers: int = 0, stats: EncodeStats | None = None) -> EncodedSplit:
        """Texts -> an unlabelled EncodedSplit (empty texts become one <unk>)."""
        stats = stats if stats is not None else EncodeStats()
        ids = list(self.codec.encode_many(texts, auto_workers(len(texts), workers), stats))
        return EncodedSplit.from_lists(ids, None, stats)

    def predict_proba(self, texts: Sequence[str], batch_size: int = PREDICT_BATCH, workers: int = 0,
                      chunk_size: int = 8192) -> np.ndarray:
        """(N, C) class probabilities, in input order; columns follow `self.labels.labels`.

        Texts stream through the pipeline (worker processes for large inputs) and the model labels
        each `chunk_size` of them, sorted by length inside the chunk, with all of torch's threads. The
        two take turns rather than overlap: pipeline workers and OpenMP threads competing for the
        same cores ran slower together (422 IMDB reviews/s with the model on one thread beside two
        workers, 319 beside one) than one after the other."""
        texts = _as_texts(texts)
        if hasattr(self.model, "predict_texts"):  # an ensemble: each member reads the texts with its own codec
            return self.model.predict_texts(texts, batch_size, workers)
        tokens = self.codec.tokenize_many(texts, auto_workers(len(texts), workers))
        return self.predict_tokens(tokens, len(texts), batch_size, chunk_size)

    def predict_tokens(self, tokens: Iterable[Sequence[str]], count: int, batch_size: int = PREDICT_BATCH,
                       chunk_size: int = 8192) -> np.ndarray:
        """(count, C) class probabilities of documents already through this predictor's pipeline (the
        token strings of `codec.tokenize_many`, before truncation): what an ensemble whose members share
        a pipeline calls, so the pipeline runs once for all of them."""
        out = np.zeros((count, len(self.labels)), dtype=np.float32)
        stats = EncodeStats()
        ids = self.codec.encode_tokenized(tokens, stats)
        for start, chunk in _chunks(ids, chunk_size):
            split = EncodedSplit.from_lists(chunk, None, stats)
            out[start:start + len(chunk)] = predict_probs(self.model, split, batch_size, self.pad_id, self.precision)
        return out

    def predict(self, texts: Sequence[str], batch_size: int = PREDICT_BATCH, workers: int = 0) -> list[dict[str, Any]]:
        """[{"label": most probable class, "probs": {class: probability}}] per text, in input order."""
        probs = self.predict_proba(texts, batch_size, workers)
        names = self.labels.labels
        return [{"label": names[int(row.argmax())], "probs": {n: float(p) for n, p in zip(names, row)}} for row in probs]

    def attention(self, text: str) -> tuple[list[str], np.ndarray, dict[str, Any]]:
        """(tokens after preprocessing and truncation, their attention weights (T,), the prediction) for
        pooling=attention; tokens not in the vocabulary were read as <unk>."""
        if self.model.config.pooling != "attention" or self.model.config.kind != "recurrent":
            raise InputError(f"the model pools with {self.model.config.pooling!r}; attention weights need pooling=attention")
        codec = self.codec
        tokens = list(codec.apply_truncation(next(codec.tokenize_many([text], workers=1))))
        ids = codec.vocab.encode(tokens)
        with torch.inference_mode():
            out = self.model(torch.as_tensor(ids, dtype=torch.long)[None].to(self.device),
                             torch.tensor([len(ids)]).to(self.device))
        weights = out.attention[0].float().cpu().numpy()  # (T,)
        probs = out.probs[0].float().cpu().numpy()
        names = self.labels.labels
        prediction = {"label": names[int(probs.argmax())], "probs": {n: float(p) for n, p in zip(names, probs)}}
        return tokens, weights, prediction


def _chunks(items: Iterator[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    """(index of the chunk's first item, up to `size` items) over an iterator."""
    start = 0
    while chunk := list(islice(items, size)):
        yield start, chunk
        start += len(chunk)


def _as_texts(texts: Iterable[Any]) -> list[str]:
    out = []
    for i, t in enumerate(texts):
        if t is None:
            t = ""
        if not isinstance(t, str):
            raise InputError(f"text {i} is a {type(t).__name__}, expected a string")
        out.append(t)
    return out


def read_inputs(source: str, text_column: str = "text", label_column: str | None = None,
                errors: str = "strict") -> tuple[list[str], list[str | None], list[str]]:
    """(texts, labels, row ids) of a text file (one document per line), CSV/TSV, JSONL, CORPUS:SPLIT or hf:..."""
    from textseq.corpora.readers import ReadStats, iter_documents

    texts, labels, ids, stats = [], [], [], ReadStats()
    for doc in iter_documents(source, text_column=text_column, label_column=label_column, errors=errors,  # type: ignore[arg-type]
                              stats=stats):
        texts.append(doc.text)
        labels.append(doc.label if doc.label not in ("", None) else None)
        ids.append(doc.id)
    stats.warn_skipped(source)
    return texts, labels, ids


def read_lines(stream: BinaryIO, name: str, errors: str = "strict") -> tuple[list[str], list[str]]:
    """(texts, ids "NAME:LINE") of a byte stream, one document per line (standard input).

    Undecodable bytes: an InputError naming the line (strict), U+FFFD (replace), or the line left out
    (skip); replaced and skipped lines are counted in one warning."""
    texts, ids, replaced, skipped = [], [], 0, 0
    for number, raw in enumerate(stream, start=1):
        raw = raw.rstrip(b"\r\n")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            if errors == "strict":
                raise InputError(f"{name}:{number}: not valid UTF-8 (byte {err.start}); use --errors replace or skip") from None
            if errors == "skip":
                skipped += 1
                continue
            text, replaced = raw.decode("utf-8", "replace"), replaced + 1
        texts.append(text)
        ids.append(f"{name}:{number}")
    if replaced or skipped:
        log.warning(f"{name}: {replaced} line(s) with undecodable bytes replaced, {skipped} skipped")
    return texts, ids


def evaluate_classifier(run_dir: str | Path, source: str, text_column: str | None = None, label_column: str | None = None,
                        unseen_labels: str = "error", checkpoint: str = "best", batch_size: int = PREDICT_BATCH,
                        workers: int = 0, errors: str = "strict", device: str = "cpu",
                        precision: str = "fp32") -> dict[str, Any]:
    """The full classification report of a trained model on a labelled file or CORPUS:SPLIT.

    The text and label columns default to those the run was trained with (data.text_column and
    data.label_column of its config). A label that is not a training class raises InputError naming
    the row, or, with unseen_labels="skip", the row is left out and counted in "skipped_unseen_labels"."""
    from textseq.classify.prepare import LabelledTexts, encode_labels
    from textseq.runs import load_run

    run = load_run(run_dir, checkpoint, device, task="classify")
    predictor = Predictor.from_run(run, precision)
    trained = getattr(run.config, "data", None)
    text_column = text_column or getattr(trained, "text_column", None) or "text"
    label_column = label_column or getattr(trained, "label_column", None) or "label"
    log.debug(f"{source}: text column {text_column!r}, label column {label_column!r}")
    texts, labels, ids = read_inputs(source, text_column, label_column, errors)
    if not texts:
        raise InputError(f"{source}: no documents")
    y, keep = encode_labels(LabelledTexts(texts, labels, ids), predictor.labels, source, unseen_labels)
    if not keep:
        raise InputError(f"{source}: every document has a label unseen in training")
    stats = EncodeStats()
    if hasattr(predictor.model, "predict_texts"):  # an ensemble: its members encode the texts themselves
        probs = predictor.predict_proba([texts[i] for i in keep], batch_size, workers)
    else:
        split = predictor.encode([texts[i] for i in keep], workers, stats)
        probs = predict_probs(predictor.model, split, batch_size, predictor.pad_id, predictor.precision)
    report = classification_report(np.asarray(y), probs, predictor.labels.labels)
    counts = Counter({"skipped_unseen_labels": len(texts) - len(keep), "empty": stats.empty, "truncated": stats.truncated})
    return {**report, **counts, "checkpoint": str(predictor.path)}
