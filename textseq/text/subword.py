"""Subword models (sentencepiece BPE / unigram): `SubwordModel` to train, save, load and encode, and
the `sentencepiece` tokenizer stage, whose tokens are pieces with spans in the original text.

`load_subword_model(path)` is the one place a `.model` file is read: lazily, once per process per
file version, for the tokenizer stage and for `textseq.codecs.SentencePieceCodec` alike. Both hold
only the path, so they pickle cheaply; the codec's spec adds the file's sha256.

A `.model` file is a serialized protobuf that sentencepiece parses: loading one runs no code, so
models from users are as safe to load as JSON.
"""

from __future__ import annotations

import io
import os
import re
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from textseq.errors import ConfigError, InputError, ResourceMissingError
from textseq.text.base import Token, Tokenizer, register_stage

_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\).*?<=\s*(\d+)", re.S)


class SubwordModel:
    """A trained sentencepiece model (BPE or unigram): train, save/load, encode/decode."""

    def __init__(self, proto: bytes) -> None:
        import sentencepiece as spm

        self._proto = proto
        self._sp = spm.SentencePieceProcessor()
        self._sp.LoadFromSerializedProto(proto)

    @classmethod
    def train(
        cls,
        source: str | os.PathLike | Iterable[str],
        *,
        model_type: Literal["bpe", "unigram"] = "unigram",
        vocab_size: int = 8000,
        out_prefix: str | os.PathLike | None = None,
        character_coverage: float = 1.0,
        user_defined_symbols: Iterable[str] = (),
        num_threads: int = 2,
        **options: Any,
    ) -> "SubwordModel":
        """Train on a text file (a path, one sentence per line) or an iterable of sentences; writes
        `{out_prefix}.model` when `out_prefix` is given. `options` go to sentencepiece's trainer."""
        import sentencepiece as spm

        if isinstance(source, (str, os.PathLike)):
            if not Path(source).is_file():
                raise InputError(f"subword training corpus {str(source)!r} does not exist "
                                 f"(give a text file or an iterable of sentences)")
            options["input"] = str(source)
        else:
            options["sentence_iterator"] = iter(source)
        buffer = io.BytesIO()
        try:
            with _quiet_stderr():
                spm.SentencePieceTrainer.train(
                    model_writer=buffer,
                    model_type=model_type,
                    vocab_size=vocab_size,
                    character_coverage=character_coverage,
                    user_defined_symbols=list(user_defined_symbols),
                    num_threads=num_threads,
                    **options,
                )
        except RuntimeError as err:
            raise _training_error(err, vocab_size) from None
        model = cls(buffer.getvalue())
        if out_prefix is not None:
            model.save(f"{out_prefix}.model")
        return model

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SubwordModel":
        """Load a `.model` file written by `save` or by sentencepiece itself."""
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise ResourceMissingError(_missing_model_message(path)) from None
        try:
            return cls(data)
        except (RuntimeError, OSError) as err:
            raise InputError(f"{path}: not a sentencepiece model ({err})") from None

    def save(self, path: str | os.PathLike) -> None:
        """Write the model as a `.model` file (sentencepiece's own protobuf format)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(self._proto)

    def encode(self, text: str) -> list[int]:
        """Piece ids of `text`."""
        return self._sp.encode(text)

    def encode_pieces(self, text: str) -> list[str]:
        """Piece strings of `text` ('\u2581' marks a preceding space)."""
        return self._sp.encode(text, out_type=str)

    def encode_spans(self, texts: list[str]) -> list[list[Token]]:
        """Pieces of each text with their character spans in it (a piece can have an empty span,
        e.g. the lone '\u2581' that marks the start of a word)."""
        return [[Token(p, s, e) for p, (s, e) in zip(pieces, spans)] for pieces, spans in _pieces_and_spans(self._sp, texts)]

    def decode(self, ids: list[int]) -> str:
        """Text of piece ids (the normalized form: e.g. NFKC, runs of spaces collapsed)."""
        return self._sp.decode(ids)

    @property
    def vocab_size(self) -> int:
        """Number of pieces, special symbols included."""
        return self._sp.get_piece_size()

    def id_to_piece(self, i: int) -> str:
        """The piece string with id `i`."""
        return self._sp.id_to_piece(i)

    def piece_to_id(self, piece: str) -> int:
        """The id of `piece` (the unknown id when it is not in the vocabulary)."""
        return self._sp.piece_to_id(piece)

    def special_id(self, role: str) -> int | None:
        """The id of the "unk", "bos", "eos" or "pad" piece; None when the model has none."""
        if role not in ("unk", "bos", "eos", "pad"):
            raise ConfigError(f"unknown special role {role!r}; valid: unk, bos, eos, pad")
        i = int(getattr(self._sp, f"{role}_id")())
        return None if i < 0 else i  # sentencepiece says -1 for a disabled special

    def __reduce__(self) -> tuple:
        # Pickle as the serialized model bytes; the C++ processor itself cannot be pickled.
        return (SubwordModel, (self._proto,))


def _pieces_and_spans(sp: Any, texts: list[str]) -> list[tuple[list[str], list[tuple[int, int]]]]:
    """(pieces, character spans) of each text, from whichever offset API this sentencepiece has."""
    try:  # sentencepiece >= 0.2.3: batched, character offsets
        results = sp.encode(texts, out_type="offset_mapping")
        return [(r["pieces"], r["offsets"]) for r in results]
    except ValueError:  # 0.2.0 - 0.2.2: immutable protos, whose begin/end are character offsets too
        protos = [sp.encode_as_immutable_proto(t) for t in texts]
        return [([p.piece for p in pr.pieces], [(p.begin, p.end) for p in pr.pieces]) for pr in protos]


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 for a while: sentencepiece's C++ trainer logs every step there.
    (Its own `logstream=` needs sys.stderr.fileno(), which notebooks and pytest replace.)"""
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _training_error(err: RuntimeError, vocab_size: int) -> Exception:
    msg = str(err)
    m = _TOO_HIGH.search(msg)
    if m:
        return ConfigError(
            f"vocab_size {vocab_size} is too large for this corpus: sentencepiece can make at most "
            f"{m.group(2)} pieces from it; set vocab_size <= {m.group(2)} or train on more text"
        )
    if "sentences" in msg.lower() and ("empty" in msg.lower() or "no " in msg.lower()):
        return InputError(f"subword training corpus is empty or unusable: {msg}")
    return ConfigError(f"sentencepiece training failed: {msg}")


def _missing_model_message(path: str | os.PathLike) -> str:
    return (
        f"sentencepiece model {str(path)!r} does not exist. Train one with "
        f"`SubwordModel.train(corpus, vocab_size=..., out_prefix='{Path(path).with_suffix('')}')` "
        f"(textseq.text.subword) or with sentencepiece's `spm_train --model_prefix ...`."
    )


def load_subword_model(path: str | os.PathLike) -> SubwordModel:
    """A SubwordModel loaded once per process per path (reloaded when the file changes)."""
    try:
        st = os.stat(path)
    except OSError:
        raise ResourceMissingError(_missing_model_message(path)) from None
    return _load_cached(os.path.abspath(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=16)
def _load_cached(path: str, mtime_ns: int, size: int) -> SubwordModel:
    return SubwordModel.load(path)


@register_stage("sentencepiece")
class SentencePiece(Tokenizer):
    """Subword pieces of a trained sentencepiece `model` (path to a .model file).

    Token text is the piece ('\u2581the'); its span covers the characters it came from (possibly
    empty, see encode_spans)."""

    model: str

    def process(self, text: str) -> list[Token]:
        """Split one document into pieces."""
        return load_subword_model(self.model).encode_spans([text])[0]

    def process_batch(self, texts: list[str]) -> list[list[Token]]:
        """Split many documents with one batched sentencepiece call."""
        return load_subword_model(self.model).encode_spans(list(texts))
