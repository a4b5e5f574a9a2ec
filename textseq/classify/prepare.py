"""Data preparation for a classification run: read the labelled splits, build the label set and the
vocabulary on the training split only, encode every split, and cache the arrays in the run dir.

    RUN_DIR/vocab.json        the Vocab (training split only; or the LM's, with transfer)
    RUN_DIR/labels.json       the classes, in index order
    RUN_DIR/pipeline.yaml     the preprocessing pipeline
    RUN_DIR/data/SPLIT.npz    tokens / offsets / labels (textseq.data.classification.EncodedSplit)
    RUN_DIR/data/SPLIT.json   the encoding key and what encoding did (empty, truncated, unknown, skipped)

The arrays are reused while nothing that shaped them (DataSection.encoding_key) has changed. Text
becomes ids through one word codec (textseq.codecs.classification_codec: the pipeline, the vocab and
data.max_tokens / truncate / head_fraction); `PreparedData.codec` is the one a checkpoint stores.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from textseq.classify.config import ClassifyJobConfig, DataSection
from textseq.codecs import WordCodec, classification_codec
from textseq.data.classification import EncodedSplit, LabelSet, auto_workers
from textseq.errors import InputError
from textseq.text.resolve import resolve_pipeline
from textseq.truncation import EncodeStats
from textseq.vocab import Vocab

VOCAB_FILE, LABELS_FILE, PIPELINE_FILE = "vocab.json", "labels.json", "pipeline.yaml"
SPLITS = ("train", "valid", "test")


log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """Everything the model and the batches are built from."""

    codec: WordCodec  # pipeline + vocab + truncation: text -> ids for training and prediction alike
    labels: LabelSet
    splits: dict[str, EncodedSplit]
    reused: bool

    @property
    def vocab(self) -> Vocab:
        return self.codec.vocab

    @property
    def pipeline(self) -> Any:  # textseq.text.pipeline.Pipeline
        return self.codec.tokenizer


@dataclass
class LabelledTexts:
    """One split read into memory: texts, raw labels (strings) and row ids (file:line)."""

    texts: list[str]
    labels: list[str | None]
    ids: list[str]


def read_split(source: str, data: DataSection, labelled: bool = True) -> LabelledTexts:
    """Read every document of `source`; missing columns are errors naming the file and column."""
    from textseq.corpora.readers import ReadStats, iter_documents

    out, stats = LabelledTexts([], [], []), ReadStats()
    docs = iter_documents(source, text_column=data.text_column, label_column=data.label_column if labelled else None,
                          errors=data.errors, stats=stats)
    for doc in docs:
        out.texts.append(doc.text)
        out.labels.append(doc.label if doc.label not in ("", None) else None)
        out.ids.append(doc.id)
    stats.warn_skipped(source)
    if not out.texts:
        raise InputError(f"{source}: no documents")
    return out


def encode_labels(read: LabelledTexts, labels: LabelSet, source: str, unseen: str) -> tuple[list[int], list[int]]:
    """(class indices, positions kept): unseen labels raise InputError naming the row, or are skipped."""
    out, keep = [], []
    for i, (label, row) in enumerate(zip(read.labels, read.ids)):
        if label is None:
            raise InputError(f"{row}: no label (empty {source} label cell)")
        index = labels.encode(label)
        if index is None:
            if unseen == "skip":
                continue
            raise InputError(f"{row}: label {label!r} is not a training class ({', '.join(labels.labels)}); "
                             "fix the data, or drop and count such rows with data.unseen_labels: skip (--unseen-labels skip)")
        out.append(index)
        keep.append(i)
    return out, keep


def encode_split(codec: WordCodec, read: LabelledTexts, labels: LabelSet | None, source: str, unseen: str = "error",
                 workers: int = 0) -> EncodedSplit:
    """Encode a read split (labels optional: without a label set every label is -1)."""
    stats = EncodeStats()
    texts = read.texts
    if labels is not None:
        indices, keep = encode_labels(read, labels, source, unseen)
        stats.skipped_unseen_labels = len(read.texts) - len(keep)
        texts = [read.texts[i] for i in keep]
        if not texts:
            raise InputError(f"{source}: every document has a label unseen in training")
    ids = list(codec.encode_many(texts, auto_workers(len(texts), workers), stats))
    return EncodedSplit.from_lists(ids, indices if labels is not None else None, stats)


def _meta_path(run_dir: Path, split: str) -> Path:
    return run_dir / "data" / f"{split}.json"


def _reusable(run_dir: Path, splits: list[str], key: str) -> bool:
    if not all((run_dir / f).is_file() for f in (VOCAB_FILE, LABELS_FILE, PIPELINE_FILE)):
        return False
    try:
        return all(json.loads(_meta_path(run_dir, s).read_text(encoding="utf-8")).get("key") == key
                   and (run_dir / "data" / f"{s}.npz").is_file() for s in splits)
    except (OSError, ValueError):
        return False


def configured_splits(data: DataSection) -> list[str]:
    return [s for s in SPLITS if getattr(data, s) is not None]


def read_labels_file(path: Path) -> LabelSet:
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: unreadable label list: {err}") from None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise InputError(f"{path}: expected a JSON list of label strings")
    return LabelSet(labels)


def prepare(config: ClassifyJobConfig, run_dir: str | Path, lm_codec: Any = None, force: bool = False) -> PreparedData:
    """Build (or reuse) the label set, vocab and encoded splits of `config` in RUN_DIR.

    With `lm_codec` (a word codec of a `textseq train-lm` run) its vocabulary and pipeline are used
    instead of building new ones, so the transferred embedding rows belong to the same words."""
    run_dir = Path(run_dir)
    data = config.data
    splits = configured_splits(data)
    lm_key = None if lm_codec is None else lm_codec.spec()
    key = data.encoding_key(lm_key)
    if not force and _reusable(run_dir, splits, key):
        vocab = Vocab.load(run_dir / VOCAB_FILE)
        labels = read_labels_file(run_dir / LABELS_FILE)
        pipeline = resolve_pipeline(str(run_dir / PIPELINE_FILE), tokens=True)
        codec = classification_codec(pipeline, vocab, data.max_tokens, data.truncate, data.head_fraction)
        encoded = {s: EncodedSplit.load(run_dir / "data" / f"{s}.npz") for s in splits}
        log.info(f"reusing the encoded data in {run_dir / 'data'} (data config unchanged, key {key})")
        return PreparedData(codec, labels, encoded, reused=True)

    train = read_split(data.train, data)
    labels = LabelSet.from_labels(train.labels, train.ids, where=data.train)
    if lm_codec is not None:
        codec = classification_codec(lm_codec.tokenizer, lm_codec.vocab, data.max_tokens, data.truncate, data.head_fraction)
        log.info(f"using the language model's pipeline and vocabulary ({len(codec.vocab):,} words); "
            "data.pipeline, min_freq and max_size do not apply")
        encoded = {"train": encode_split(codec, train, labels, data.train, "error", data.workers)}
    else:
        # One pipeline pass over train: count every token for the vocab, keep the (pre-cut) tokens to encode.
        probe = classification_codec(resolve_pipeline(data.pipeline, where="data.pipeline", tokens=True), Vocab.build([]), data.max_tokens, data.truncate,
                                     data.head_fraction)
        counts: Counter[str] = Counter()
        kept: list[list[str]] = []
        for toks in probe.tokenize_many(train.texts, auto_workers(len(train.texts), data.workers)):
            counts.update(toks)
            kept.append(toks)
        codec = probe.with_vocab(Vocab.build(_expand(counts), min_freq=data.min_freq, max_size=data.max_size))
        stats, unknowns = EncodeStats(), Counter()
        indices, _ = encode_labels(train, labels, data.train, "error")
        ids = [codec.encode_tokens(toks, stats, unknowns) for toks in kept]
        stats.unknown, stats.top_unknowns = sum(unknowns.values()), unknowns.most_common(10)
        encoded = {"train": EncodedSplit.from_lists(ids, indices, stats)}
    vocab, pipeline = codec.vocab, codec.tokenizer
    log.info(f"labels ({len(labels)}): {', '.join(labels.labels)}; vocabulary: {len(vocab):,} tokens from {data.train}")
    for split in splits:
        if split != "train":
            source = getattr(data, split)
            encoded[split] = encode_split(codec, read_split(source, data), labels, source, data.unseen_labels, data.workers)
    (run_dir / "data").mkdir(parents=True, exist_ok=True)
    for split, enc in encoded.items():
        enc.save(run_dir / "data" / f"{split}.npz")
        _meta_path(run_dir, split).write_text(json.dumps({"key": key, "source": getattr(data, split), **asdict(enc.stats)},
                                                         ensure_ascii=False, indent=1), encoding="utf-8")
        log.info(describe_stats(split, getattr(data, split), enc.stats, data.max_tokens))
    vocab.save(run_dir / VOCAB_FILE)
    pipeline.save(run_dir / PIPELINE_FILE)
    # last: the label file completes the set _reusable looks for
    (run_dir / LABELS_FILE).write_text(json.dumps(labels.labels, ensure_ascii=False) + "\n", encoding="utf-8")
    return PreparedData(codec, labels, encoded, reused=False)


def describe_stats(split: str, source: str, s: EncodeStats, max_tokens: int | None) -> str:
    """'train: imdb:train -> 20,000 documents, 3.1M tokens; 2 empty (one <unk> each), 812 truncated to 400, ...'."""
    line = (f"{split}: {source} -> {s.documents:,} documents, {s.tokens:,} tokens; {s.empty:,} empty (encoded as one <unk>), "
            f"{s.truncated:,} truncated to {max_tokens} tokens, {s.unknown:,} unknown tokens")
    if s.skipped_unseen_labels:
        line += f", {s.skipped_unseen_labels:,} skipped for labels unseen in training"
    return line


def _expand(counts: Counter) -> Any:
    # Vocab.build counts an iterable of tokens; handing it each token `count` times keeps its API.
    for token, n in counts.items():
        for _ in range(n):
            yield token
