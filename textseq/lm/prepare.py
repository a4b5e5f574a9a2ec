"""Data preparation for a language-modelling run: build the codec on the training split, encode every
split into memory-mapped token files, and reuse them while nothing that shaped them has changed.

    RUN_DIR/codec.json            the codec (save_codec format); + subword.model / pipeline.yaml
    RUN_DIR/data/train.bin(.json) ids + sidecar (encode_corpus), the sidecar also holds
                 valid.bin(.json)   lm_key      hash of the data section's encoding fields
                 test.bin(.json)    characters  length of the encoded text (for bits per character)
                                    bytes       its UTF-8 length (for bits per byte)

Training and preparation meet only through these files (the nanoGPT `prepare.py` idea).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from textseq.data.encode import EncodedCorpus, encode_corpus, sidecar_path
from textseq.errors import InputError
from textseq.lm.config import DataConfig
from textseq.text.resolve import resolve_pipeline
from textseq.codecs import CODEC_FORMAT, CODEC_VERSION, CharCodec, SentencePieceCodec, TokenCodec, WordCodec, load_codec
from textseq.vocab import Vocab

CODEC_FILE, SUBWORD_FILE, PIPELINE_FILE = "codec.json", "subword.model", "pipeline.yaml"
SPLITS = ("train", "valid", "test")
SEPARATOR = "\n"  # appended to every document in the token stream
log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """The encoded splits of a run and the codec they were encoded with."""

    codec: TokenCodec
    splits: dict[str, EncodedCorpus]  # "train", "valid" and, when configured, "test"
    pipeline_spec: dict[str, Any] | None  # word level only
    reused: bool

    def characters(self, split: str) -> int:
        """Characters of the text that `split` encodes (documents plus their newline separators)."""
        return int(self.splits[split].meta.get("characters", 0))

    def bytes(self, split: str) -> int:
        """UTF-8 bytes of that text."""
        return int(self.splits[split].meta.get("bytes", 0))


class TextCounter:
    """Iterate the documents of a source as strings, counting the characters and bytes that
    encode_corpus will see (each document plus its "\\n" separator)."""

    def __init__(self, source: str, data: DataConfig | None = None) -> None:
        self.source = source
        self.text_column = data.text_column if data else "text"
        self.errors = data.errors if data else "strict"
        self.characters = self.bytes = self.documents = self.visible = 0
        self.warned = False

    def __iter__(self) -> Iterator[str]:
        from textseq.corpora.readers import ReadStats, iter_documents

        self.characters = self.bytes = self.documents = self.visible = 0
        self.stats = ReadStats()
        for doc in iter_documents(self.source, text_column=self.text_column, errors=self.errors,  # type: ignore[arg-type]
                                  stats=self.stats):
            text = doc.text
            self.documents += 1
            self.characters += len(text) + 1
            self.bytes += len(text.encode("utf-8", "surrogatepass")) + 1
            if not self.visible and text.strip():
                self.visible = 1
            yield text
        if not self.warned:  # the codec pass and the encoding pass read the same rows: say it once
            self.stats.warn_skipped(self.source)
            self.warned = self.warned or bool(self.stats.skipped)

    def check_not_empty(self, what: str) -> None:
        """InputError when the source held no visible character at all (call after iterating)."""
        if not self.visible:
            raise InputError(f"{what} {self.source!r} is empty: {self.documents} documents, no visible characters")


def build_codec(data: DataConfig, run_dir: Path) -> tuple[TokenCodec, dict | None]:
    """Build the codec of `data.level` from the training split only; returns (codec, pipeline spec)."""
    texts = TextCounter(data.train, data)
    if data.level == "char":
        # the stream is each document plus SEPARATOR (see encode_corpus), so "\n" must get an id too
        codec: TokenCodec = CharCodec.build((t + SEPARATOR for t in texts), min_freq=data.char.min_freq)
        texts.check_not_empty("training corpus")
        return codec, None
    if data.level == "subword":
        from textseq.text.subword import SubwordModel

        opts = data.subword
        lines = [t for t in texts if t]  # sentencepiece trains on sentences; blank lines teach nothing
        texts.check_not_empty("training corpus")
        log.info(f"training a {opts.vocab_size}-piece {opts.model_type} sentencepiece model on {data.train}")
        model = SubwordModel.train(
            lines, model_type=opts.model_type, vocab_size=opts.vocab_size, character_coverage=opts.character_coverage,
            # lossless: no normalisation, spaces kept as they are, no dummy "▁" at each line start (it
            # would put a space after every newline of the stream), and "\n" a piece of its own
            normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
            user_defined_symbols=["\n"], allow_whitespace_only_pieces=True,
        )
        model.save(run_dir / SUBWORD_FILE)
        return SentencePieceCodec(run_dir / SUBWORD_FILE), None
    pipeline = resolve_pipeline(data.word.pipeline, where="data.word.pipeline", tokens=True)
    words = (token for tokens in pipeline.stream(texts, batch_size=256) for token in tokens)
    vocab = Vocab.build(words, min_freq=data.word.min_freq, max_size=data.word.max_size)  # pad unk bos eos
    texts.check_not_empty("training corpus")
    return WordCodec(vocab, tokenizer=pipeline), pipeline.spec()


def save_run_codec(codec: TokenCodec, run_dir: Path, pipeline_spec: dict | None, key: str) -> None:
    """codec.json (a sentencepiece model path relative to the run dir), and pipeline.yaml for words."""
    spec = codec_spec_for_run(codec)
    data = {"format": CODEC_FORMAT, "version": CODEC_VERSION, **spec, "lm_key": key}
    (run_dir / CODEC_FILE).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    if pipeline_spec is not None:
        from textseq.text.pipeline import Pipeline

        Pipeline.from_spec(pipeline_spec).save(run_dir / PIPELINE_FILE)


def codec_spec_for_run(codec: TokenCodec) -> dict[str, Any]:
    """codec.spec() with a sentencepiece model named relative to the run dir, so run dirs can move."""
    spec = codec.spec()
    if spec.get("codec") == "sentencepiece":
        spec["model"] = SUBWORD_FILE
    return spec


def load_run_codec(run_dir: Path) -> tuple[TokenCodec, dict | None]:
    """The codec (and word pipeline spec) saved in `run_dir` by `prepare`."""
    pipeline_spec = None
    tokenizer = None
    if (run_dir / PIPELINE_FILE).is_file():
        from textseq.config import read_yaml

        pipeline_spec = read_yaml(run_dir / PIPELINE_FILE)
        tokenizer = resolve_pipeline(pipeline_spec, where="data.word.pipeline", tokens=True)
    return load_codec(run_dir / CODEC_FILE, tokenizer=tokenizer), pipeline_spec


def _reusable(data: DataConfig, run_dir: Path, key: str) -> bool:
    codec_path = run_dir / CODEC_FILE
    if not codec_path.is_file():
        return False
    try:
        saved = json.loads(codec_path.read_text(encoding="utf-8"))
        for split in _configured(data):
            meta = json.loads(sidecar_path(run_dir / "data" / f"{split}.bin").read_text(encoding="utf-8"))
            if meta.get("lm_key") != key:
                return False
    except (OSError, ValueError):
        return False
    return saved.get("lm_key") == key


def _configured(data: DataConfig) -> list[str]:
    return [s for s in SPLITS if getattr(data, s) is not None]


def prepare(data: DataConfig, run_dir: str | Path, progress: bool = True, force: bool = False) -> PreparedData:
    """Build the codec on data.train and encode every configured split into RUN_DIR/data/, or reuse
    the files there when the data section's encoding fields (and so the codec) are unchanged."""
    run_dir = Path(run_dir)
    (run_dir / "data").mkdir(parents=True, exist_ok=True)
    key = data.encoding_key()
    if not force and _reusable(data, run_dir, key):
        codec, pipeline_spec = load_run_codec(run_dir)
        splits = {s: EncodedCorpus.open(run_dir / "data" / f"{s}.bin") for s in _configured(data)}
        log.info(f"reusing the encoded data in {run_dir / 'data'} (data config unchanged, key {key})")
        return PreparedData(codec, splits, pipeline_spec, reused=True)
    codec, pipeline_spec = build_codec(data, run_dir)
    log.info(f"{data.level} codec built on {data.train}: {codec.size:,} tokens in the vocabulary")
    splits = {}
    for split in _configured(data):
        source = getattr(data, split)
        texts = TextCounter(source, data)
        out = run_dir / "data" / f"{split}.bin"
        encoded = encode_corpus(texts, codec, out, progress=progress, separator=SEPARATOR, source=source)
        texts.check_not_empty(f"{split} corpus")
        _annotate(out, {"lm_key": key, "characters": texts.characters, "bytes": texts.bytes})
        splits[split] = EncodedCorpus.open(out)
        if encoded.unknown_count:
            top = ", ".join(f"{t!r} ({n})" for t, n in encoded.meta.get("top_unknowns", [])[:8])
            log.info(f"{split}: {encoded.unknown_count:,} tokens unseen in training mapped to unk: {top}")
        log.info(f"{split}: {source} -> {out} ({len(encoded):,} tokens, {texts.characters:,} characters)")
    save_run_codec(codec, run_dir, pipeline_spec, key)  # last: its key marks the encoding complete
    return PreparedData(codec, splits, pipeline_spec, reused=False)


def _annotate(path: Path, values: dict[str, Any]) -> None:
    side = sidecar_path(path)
    meta = json.loads(side.read_text(encoding="utf-8"))
    meta.update(values)
    side.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
