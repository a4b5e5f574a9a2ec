"""Codecs: a whole text -> ids -> text, one of three kinds behind one interface (`TokenCodec`):

    chars          one id per Unicode code point (lossless)
    words          a tokenizer callable (usually a textseq Pipeline) + a Vocab (lossy: spacing is
                   not kept), optionally with a length policy (textseq.truncation.Truncation)
    sentencepiece  the model's own ids (lossless when the model was trained with
                   normalization_rule_name="identity" and remove_extra_whitespaces=False)

Each is serialisable to a JSON spec (`spec()`, `codec_from_spec`, `save_codec` / `load_codec`)
stored with every model, so a checkpoint decodes its own ids. A classifier's text -> ids is one
word codec (`classification_codec`): pipeline, vocab, truncation and "an empty document is one
<unk>", all in its spec; `WordCodec.encode_many` streams many texts through the pipeline's worker
processes and counts what encoding did (`EncodeStats`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from textseq.errors import ConfigError, InputError, ResourceMissingError
from textseq.registry import Registry
from textseq.truncation import EncodeStats, Truncate, Truncation
from textseq.vocab import Vocab, as_strings, read_json_file
from textseq.fileio import sha256_file

CODEC_FORMAT, CODEC_VERSION = "textseq.codec", 1


@runtime_checkable
class TokenCodec(Protocol):
    """Text <-> ids. `spec()` is plain JSON data; `codec_from_spec` rebuilds the codec from it."""

    name: ClassVar[str]

    @property
    def size(self) -> int: ...  # number of ids; every id is in [0, size)

    @property
    def unk_id(self) -> int | None: ...

    @property
    def eos_id(self) -> int | None: ...

    @property
    def pad_id(self) -> int | None: ...  # what classification batches are padded with

    def encode(self, text: str, unknowns: Counter | None = None) -> list[int]: ...

    def encode_array(self, text: str, unknowns: Counter | None = None) -> np.ndarray: ...  # int64

    def decode(self, ids: Iterable[int]) -> str: ...

    def spec(self) -> dict[str, Any]: ...


CODECS: Registry[Any] = Registry("codec")


class _VocabCodec:
    """Shared parts of the two codecs that own a Vocab."""

    vocab: Vocab

    @property
    def size(self) -> int:
        return len(self.vocab)

    @property
    def unk_id(self) -> int | None:
        return self.vocab.unk_id

    @property
    def eos_id(self) -> int | None:
        return self.vocab.eos_id

    @property
    def pad_id(self) -> int | None:
        return self.vocab.pad_id

    def encode_array(self, text: str, unknowns: Counter | None = None) -> np.ndarray:
        return np.asarray(self.encode(text, unknowns), dtype=np.int64)


@CODECS.register("chars")
class CharCodec(_VocabCodec):
    """One id per code point. Encoding is vectorised (code points looked up in a sorted table), so a
    50 MB corpus encodes in about a second; decode(encode(t)) == t whenever every character is known."""

    name: ClassVar[str] = "chars"

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab
        singles = sorted((ord(t), i) for t, i in vocab.stoi.items() if len(t) == 1)
        self._points = np.array([p for p, _ in singles], dtype=np.uint32)
        self._ids = np.array([i for _, i in singles], dtype=np.int64)

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> "CharCodec":
        """Count the characters of `texts` (see Vocab.for_characters)."""
        return cls(Vocab.for_characters(texts, min_freq, max_size))

    def encode_array(self, text: str, unknowns: Counter | None = None) -> np.ndarray:
        points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if len(self._points) == 0:
            pos, found = np.zeros(len(points), dtype=np.int64), np.zeros(len(points), dtype=bool)
        else:
            pos = np.minimum(np.searchsorted(self._points, points), len(self._points) - 1)
            found = self._points[pos] == points
        ids = self._ids[pos] if len(self._ids) else pos
        if not found.all():
            if self.unk_id is None:
                bad = chr(int(points[~found][0]))
                raise InputError(f"character {bad!r} is not in the vocabulary, which has no 'unk' special")
            ids[~found] = self.unk_id
            if unknowns is not None:
                cps, n = np.unique(points[~found], return_counts=True)
                unknowns.update({chr(int(c)): int(k) for c, k in zip(cps, n)})
        return ids

    def encode(self, text: str, unknowns: Counter | None = None) -> list[int]:
        return self.encode_array(text, unknowns).tolist()

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.vocab.decode(ids))

    def spec(self) -> dict[str, Any]:
        return {"codec": self.name, "vocab": self.vocab.to_dict(counts=False)}

    @classmethod
    def from_spec(cls, spec: dict, where: str, **_: Any) -> "CharCodec":
        return cls(Vocab.from_dict(spec.get("vocab"), where=f"{where}: vocab"))


def whitespace_split(text: str) -> list[str]:
    """The default word tokenizer: split on runs of whitespace."""
    return text.split()


@CODECS.register("words")
class WordCodec(_VocabCodec):
    """A tokenizer (any callable str -> list[str] or list[Token]) followed by a Vocab, with a length
    policy (`truncation`, none by default). Decoding joins tokens with `joiner`, so it is lossy: the
    original spacing is not kept."""

    name: ClassVar[str] = "words"

    def __init__(self, vocab: Vocab, tokenizer: Callable[[str], Sequence[Any]] = whitespace_split, joiner: str = " ",
                 truncation: Truncation | None = None) -> None:
        self.vocab, self.tokenizer, self.joiner = vocab, tokenizer, joiner
        self.truncation = truncation if truncation is not None else Truncation()
        if self.truncation.empty == "unk" and vocab.unk_id is None:
            raise ConfigError("the vocabulary needs an 'unk' special: empty documents are encoded as one <unk>")

    def with_vocab(self, vocab: Vocab) -> "WordCodec":
        """The same tokenizer and length policy over another vocabulary."""
        return WordCodec(vocab, self.tokenizer, self.joiner, self.truncation)

    def encode(self, text: str, unknowns: Counter | None = None) -> list[int]:
        if self.truncation.is_noop:
            return self.vocab.encode(as_strings(self.tokenizer(text)), unknowns)
        return self.encode_tokens(as_strings(self.tokenizer(self.truncation.precut(text))), None, unknowns)

    def tokenize_many(self, texts: Iterable[str], workers: int = 1, batch_size: int = 256,
                      precut: bool = True) -> Iterator[list[str]]:
        """Token strings of each text, in order, after the pre-cut of very long texts (unless precut is
        False) but before truncation; a pipeline runs in batches, in `workers` processes when > 1."""
        cut = texts if self.truncation.max_tokens is None or not precut else map(self.truncation.precut, texts)
        stream = getattr(self.tokenizer, "stream", None)
        results = stream(cut, batch_size=batch_size, n_proc=workers) if callable(stream) else map(self.tokenizer, cut)
        for toks in results:
            yield [t.text for t in toks] if toks and not isinstance(toks[0], str) else list(toks)

    def apply_truncation(self, tokens: Sequence[str], stats: EncodeStats | None = None) -> Sequence[str]:
        """One document's token strings under the length policy (an empty one as the unk token when
        empty="unk", at most max_tokens), counted into `stats`."""
        policy = self.truncation
        if not tokens and policy.empty == "unk":
            tokens = [self.vocab.itos[self.vocab.unk_id]]  # type: ignore[index]
            if stats is not None:
                stats.empty += 1
        if policy.max_tokens is not None and len(tokens) > policy.max_tokens:
            tokens = policy.truncate(tokens)
            if stats is not None:
                stats.truncated += 1
        if stats is not None:
            stats.documents += 1
            stats.tokens += len(tokens)
        return tokens

    def encode_tokens(self, tokens: Sequence[str], stats: EncodeStats | None = None, unknowns: Counter | None = None) -> list[int]:
        """One document's token strings -> ids under the length policy (`apply_truncation`)."""
        return self.vocab.encode(self.apply_truncation(tokens, stats), unknowns)

    def encode_many(self, texts: Iterable[str], workers: int = 1, stats: EncodeStats | None = None,
                    batch_size: int = 256) -> Iterator[list[int]]:
        """Ids of each text, in order (`tokenize_many`, then `encode_tokens`). `stats` counts
        documents, empty, truncated and tokens as they go, and the unknown tokens at the end."""
        return self.encode_tokenized(self.tokenize_many(texts, workers, batch_size), stats)

    def encode_tokenized(self, token_lists: Iterable[Sequence[str]], stats: EncodeStats | None = None) -> Iterator[list[int]]:
        """Ids of documents already through the pipeline (`tokenize_many`'s output), in order, counted
        in `stats` as `encode_many` counts them."""
        stats = stats if stats is not None else EncodeStats()
        unknowns: Counter = Counter()
        for tokens in token_lists:
            yield self.encode_tokens(tokens, stats, unknowns)
        stats.unknown += sum(unknowns.values())
        stats.top_unknowns = unknowns.most_common(10)

    def decode(self, ids: Iterable[int]) -> str:
        return self.joiner.join(self.vocab.decode(ids))

    def spec(self) -> dict[str, Any]:
        spec = {"codec": self.name, "vocab": self.vocab.to_dict(counts=False), "tokenizer": _tokenizer_spec(self.tokenizer), "joiner": self.joiner}
        if self.truncation != Truncation():  # absent: a language model's spec stays as it always was
            spec["truncation"] = self.truncation.spec()
        return spec

    @classmethod
    def from_spec(cls, spec: dict, where: str, tokenizer: Callable | None = None, **_: Any) -> "WordCodec":
        vocab = Vocab.from_dict(spec.get("vocab"), where=f"{where}: vocab")
        truncation = Truncation.from_spec(spec["truncation"], f"{where}: truncation") if "truncation" in spec else None
        return cls(vocab, tokenizer or _tokenizer_from_spec(spec.get("tokenizer"), where), spec.get("joiner", " "), truncation)


def classification_codec(pipeline: Any, vocab: Vocab, max_tokens: int | None, truncate: Truncate = "head_tail",
                         head_fraction: float = 0.25) -> WordCodec:
    """A classifier's text -> ids: `pipeline` tokens, cut to `max_tokens` by `truncate`, looked up in
    `vocab` (which needs an 'unk' special), an empty document as one <unk>."""
    if vocab.unk_id is None:
        raise ConfigError("the classification vocab needs an 'unk' special")
    return WordCodec(vocab, pipeline, truncation=Truncation(max_tokens, truncate, head_fraction, empty="unk"))


def _tokenizer_spec(tokenizer: Callable) -> dict[str, Any]:
    # A stage or pipeline describes itself; any other callable is recorded by name for the reader,
    # but is never imported back from a file (that would be pickle's problem again).
    if tokenizer is whitespace_split:
        return {"kind": "whitespace"}
    if callable(getattr(tokenizer, "spec", None)):
        return {"kind": "spec", "spec": tokenizer.spec()}
    name = f"{getattr(tokenizer, '__module__', '?')}:{getattr(tokenizer, '__qualname__', type(tokenizer).__name__)}"
    return {"kind": "callable", "name": name}


def _tokenizer_from_spec(spec: Any, where: str) -> Callable:
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind == "whitespace":
        return whitespace_split
    if kind == "spec" and isinstance(spec.get("spec"), dict) and "stage" in spec["spec"]:
        from textseq.text.base import stage_from_spec

        return stage_from_spec(spec["spec"], where=f"{where}: tokenizer")
    if kind == "spec" and isinstance(spec.get("spec"), dict) and "stages" in spec["spec"]:
        from textseq.text.pipeline import Pipeline

        pipeline = Pipeline.from_spec(spec["spec"], where=f"{where}: tokenizer")
        if pipeline.tokenizer is None:
            raise ConfigError(f"{where}: tokenizer: the pipeline has no tokenizer stage; a word codec needs tokens")
        return pipeline
    raise ConfigError(f"{where}: the word tokenizer {spec!r} cannot be rebuilt from the spec alone; pass tokenizer=... to codec_from_spec / load_codec")


@CODECS.register("sentencepiece")
class SentencePieceCodec:
    """A sentencepiece model; ids are the model's own. Only the path is held (the model loads
    lazily, once per process, through textseq.text.subword.load_subword_model, as the tokenizer
    stage's does), so the codec pickles cheaply. The spec records the model's sha256, and loading
    refuses a different file at that path."""

    name: ClassVar[str] = "sentencepiece"

    def __init__(self, model_path: str | Path) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ResourceMissingError(f"sentencepiece model not found: {self.model_path}")

    @property
    def subword_model(self) -> Any:
        """The loaded textseq.text.subword.SubwordModel (cached per process)."""
        from textseq.text.subword import load_subword_model

        return load_subword_model(self.model_path)

    @property
    def size(self) -> int:
        return int(self.subword_model.vocab_size)

    @property
    def unk_id(self) -> int | None:
        return self.subword_model.special_id("unk")

    @property
    def eos_id(self) -> int | None:
        return self.subword_model.special_id("eos")

    @property
    def pad_id(self) -> int | None:
        return self.subword_model.special_id("pad")

    def encode(self, text: str, unknowns: Counter | None = None) -> list[int]:
        model = self.subword_model
        ids = model.encode(text)
        unk = model.special_id("unk")
        if unknowns is not None and unk is not None:
            n = ids.count(unk)
            if n:
                unknowns[model.id_to_piece(unk)] += n
        return ids

    def encode_array(self, text: str, unknowns: Counter | None = None) -> np.ndarray:
        return np.asarray(self.encode(text, unknowns), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        return self.subword_model.decode([int(i) for i in ids])

    def spec(self) -> dict[str, Any]:
        return {"codec": self.name, "model": str(self.model_path), "sha256": sha256_file(self.model_path)}

    @classmethod
    def from_spec(cls, spec: dict, where: str, base_dir: Path | None = None, **_: Any) -> "SentencePieceCodec":
        if not isinstance(spec.get("model"), str):
            raise InputError(f"{where}: a sentencepiece codec needs a 'model' path")
        path = Path(spec["model"])
        if not path.is_absolute() and base_dir is not None and (Path(base_dir) / path).is_file():
            path = Path(base_dir) / path  # beside the checkpoint/corpus first, else relative to cwd
        codec = cls(path)
        if spec.get("sha256") and spec["sha256"] != sha256_file(path):
            raise InputError(f"{where}: {path} is not the sentencepiece model this spec was made with (sha256 differs)")
        return codec


def codec_from_spec(spec: Any, where: str = "codec", base_dir: str | Path | None = None, tokenizer: Callable | None = None) -> TokenCodec:
    """Rebuild a codec from `codec.spec()`. Relative sentencepiece paths resolve against `base_dir`;
    a word codec with a custom tokenizer needs that tokenizer passed in again."""
    if not isinstance(spec, dict) or "codec" not in spec:
        raise InputError(f"{where}: a codec spec must be an object with a 'codec' key, got {type(spec).__name__}")
    cls = CODECS.get(spec["codec"])
    return cls.from_spec(spec, where=where, base_dir=Path(base_dir) if base_dir else None, tokenizer=tokenizer)


def save_codec(codec: TokenCodec, path: str | Path) -> None:
    """Write `{"format": "textseq.codec", "version": 1, **codec.spec()}` as JSON."""
    data = {"format": CODEC_FORMAT, "version": CODEC_VERSION, **codec.spec()}
    Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def load_codec(path: str | Path, tokenizer: Callable | None = None) -> TokenCodec:
    """Read a codec written by `save_codec`; relative model paths resolve beside the file."""
    data = read_json_file(path)
    if not isinstance(data, dict) or data.get("format") != CODEC_FORMAT:
        raise InputError(f"{path}: not a textseq codec file (format should be {CODEC_FORMAT!r})")
    if data.get("version") != CODEC_VERSION:
        raise InputError(f"{path}: codec version {data.get('version')!r} is not supported")
    return codec_from_spec(data, where=str(path), base_dir=Path(path).parent, tokenizer=tokenizer)
