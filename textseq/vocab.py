"""Token <-> id mappings, and the codecs that turn a whole text into ids and back.

Two layers:

    Vocab        list of token strings, id = position; specials first; saved as JSON
    TokenCodec   text -> ids -> text, one of three kinds behind one interface:
                   chars          one id per Unicode code point (lossless)
                   words          a tokenizer callable + a Vocab (lossy: spacing is not kept)
                   sentencepiece  the model's own ids (lossless when the model was trained with
                                  normalization_rule_name="identity" and remove_extra_whitespaces=False)

Specials are named by role ("pad", "unk", "bos", "eos"). The roles present take ids 0, 1, ... in
that fixed order, so a word vocab with all four has <pad>=0 <unk>=1 <bos>=2 <eos>=3. A character
vocab has only "unk", spelled U+FFFD (the Unicode replacement character), so it has id 0 and decodes
to the character every text tool already shows for "something was here that we cannot represent";
a character LM needs no padding (batches are contiguous streams) and newlines already mark ends.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from textseq.errors import ConfigError, InputError, ResourceMissingError
from textseq.registry import Registry
from textseq.weights import sha256_file

SPECIAL_ROLES = ("pad", "unk", "bos", "eos")  # the order in which present specials take ids 0, 1, ...
DEFAULT_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "bos": "<bos>", "eos": "<eos>"}
CHAR_SPECIALS = {"unk": "\ufffd"}
VOCAB_FORMAT, VOCAB_VERSION = "textseq.vocab", 1
CODEC_FORMAT, CODEC_VERSION = "textseq.codec", 1


def _resolve_specials(specials: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """Roles -> token strings, in id order. A sequence of roles uses the default spellings."""
    if specials is None:
        return {}
    if not isinstance(specials, Mapping):
        specials = {role: DEFAULT_SPECIALS.get(role, "") for role in specials}
    unknown = [r for r in specials if r not in SPECIAL_ROLES]
    if unknown:
        raise ConfigError(f"unknown special role(s) {unknown}; valid: {', '.join(SPECIAL_ROLES)}")
    return {role: specials[role] for role in SPECIAL_ROLES if role in specials}


def _as_strings(tokens: Iterable[Any]) -> list[str]:
    """Accept plain strings or textseq Tokens (anything with `.text`)."""
    tokens = list(tokens)
    if tokens and not isinstance(tokens[0], str):
        return [t.text for t in tokens]
    return tokens


def _iter_strings(tokens: Iterable[Any]) -> Iterator[str]:
    """Like `_as_strings`, lazily: the first item decides (a Token stream would otherwise be counted
    as (text, start, end) tuples)."""
    it = iter(tokens)
    for first in it:
        if isinstance(first, str):
            yield first
            yield from it
        else:
            yield first.text
            yield from (t.text for t in it)


class Vocab:
    """An ordered list of distinct token strings; a token's id is its position."""

    def __init__(
        self,
        tokens: Sequence[str],
        specials: Mapping[str, str] | None = None,
        counts: Mapping[str, int] | None = None,
    ) -> None:
        self.itos: list[str] = list(tokens)
        self.specials: dict[str, str] = dict(specials or {})
        self.counts: dict[str, int] | None = dict(counts) if counts is not None else None
        self.stoi: dict[str, int] = {}
        for i, tok in enumerate(self.itos):
            if not isinstance(tok, str):
                raise InputError(f"token at id {i} is {tok!r}, not a string")
            if tok in self.stoi:
                raise InputError(f"duplicate token {tok!r} at ids {self.stoi[tok]} and {i}")
            self.stoi[tok] = i
        for role, tok in self.specials.items():
            if role not in SPECIAL_ROLES:
                raise InputError(f"unknown special role {role!r}; valid: {', '.join(SPECIAL_ROLES)}")
            if not isinstance(tok, str) or tok not in self.stoi:
                raise InputError(f"special {role}={tok!r} is not among the tokens")
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = (
            self.stoi[self.specials[r]] if r in self.specials else None for r in SPECIAL_ROLES
        )

    @classmethod
    def build(
        cls,
        tokens: Iterable[str],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] | Mapping[str, str] | None = tuple(SPECIAL_ROLES),
    ) -> "Vocab":
        """Count `tokens` (strings or Tokens) and keep those seen >= min_freq times, most frequent
        first, ties broken by the token string, so the same input always gives the same ids.
        `max_size` caps the total size, specials included (it is the embedding table's row count)."""
        if min_freq < 1:
            raise ConfigError(f"min_freq must be >= 1, got {min_freq}")
        return cls._from_counter(Counter(_iter_strings(tokens)), min_freq, max_size, _resolve_specials(specials))

    @classmethod
    def for_characters(
        cls,
        texts: Iterable[str],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] | Mapping[str, str] | None = None,
    ) -> "Vocab":
        """A character (code point) vocabulary; by default the only special is unk = U+FFFD."""
        counter: Counter[str] = Counter()
        for text in texts:
            counter.update(text)
        chosen = CHAR_SPECIALS if specials is None else _resolve_specials(specials)
        return cls._from_counter(counter, min_freq, max_size, chosen)

    @classmethod
    def _from_counter(cls, counter: Counter, min_freq: int, max_size: int | None, specials: dict[str, str]) -> "Vocab":
        special_set = set(specials.values())
        ranked = sorted(
            ((tok, n) for tok, n in counter.items() if n >= min_freq and tok not in special_set),
            key=lambda kv: (-kv[1], kv[0]),
        )
        if max_size is not None:
            if max_size < len(specials):
                raise ConfigError(f"max_size={max_size} is smaller than the {len(specials)} specials")
            ranked = ranked[: max_size - len(specials)]
        tokens = list(specials.values()) + [tok for tok, _ in ranked]
        return cls(tokens, specials, counts=dict(ranked))

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos and self.specials == other.specials

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, specials={self.specials})"

    def encode(self, tokens: Iterable[str], unknowns: Counter | None = None) -> list[int]:
        """Token strings -> ids. Tokens not in the vocab become the unk id and are counted into
        `unknowns` (token -> occurrences) when given; without an unk special they are an error."""
        if not isinstance(tokens, str):
            tokens = _as_strings(tokens)  # a list: walked twice when counting unknowns
        stoi, unk = self.stoi, self.unk_id
        if unk is None:
            try:
                return [stoi[t] for t in tokens]
            except KeyError as err:
                raise InputError(f"token {err.args[0]!r} is not in the vocabulary, which has no 'unk' special") from None
        ids = [stoi.get(t, unk) for t in tokens]
        if unknowns is not None and unk in ids:
            unk_token = self.itos[unk]
            unknowns.update(t for t, i in zip(tokens, ids) if i == unk and t != unk_token)
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids -> token strings; an id outside the vocab is an InputError naming it."""
        itos, n, out = self.itos, len(self.itos), []
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise InputError(f"id {i} is outside the vocabulary (size {n})")
            out.append(itos[i])
        return out

    # --- JSON --------------------------------------------------------------------------------

    def to_dict(self, counts: bool = True) -> dict[str, Any]:
        """The vocab as plain data: {"format", "version", "tokens", "specials", "counts"?}."""
        data: dict[str, Any] = {"format": VOCAB_FORMAT, "version": VOCAB_VERSION, "tokens": self.itos, "specials": self.specials}
        if counts and self.counts is not None:
            data["counts"] = self.counts
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "vocab") -> "Vocab":
        """Validate plain data from `to_dict`; every error names `where`."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(data).__name__}")
        missing = [k for k in ("format", "version", "tokens", "specials") if k not in data]
        if missing:
            raise InputError(f"{where}: missing key(s) {missing}")
        if data["format"] != VOCAB_FORMAT:
            raise InputError(f"{where}: format is {data['format']!r}, expected {VOCAB_FORMAT!r}")
        if data["version"] != VOCAB_VERSION:
            raise InputError(f"{where}: version {data['version']!r} is not supported (this textseq reads {VOCAB_VERSION})")
        extra = sorted(set(data) - {"format", "version", "tokens", "specials", "counts"})
        if extra:
            raise InputError(f"{where}: unknown key(s) {extra}")
        if not isinstance(data["tokens"], list) or not isinstance(data["specials"], dict):
            raise InputError(f"{where}: 'tokens' must be a list and 'specials' an object")
        try:
            return cls(data["tokens"], data["specials"], data.get("counts"))
        except InputError as err:
            raise InputError(f"{where}: {err}") from None

    def save(self, path: str | Path) -> None:
        """Write the vocab as UTF-8 JSON (non-ASCII kept readable)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """Read a vocab written by `save`; errors name the file."""
        return cls.from_dict(_read_json(path), where=str(path))


def _read_json(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None


# --- codecs ----------------------------------------------------------------------------------


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
    """A tokenizer (any callable str -> list[str] or list[Token]) followed by a Vocab. Decoding joins
    tokens with `joiner`, so it is lossy: the original spacing is not kept."""

    name: ClassVar[str] = "words"

    def __init__(self, vocab: Vocab, tokenizer: Callable[[str], Sequence[Any]] = whitespace_split, joiner: str = " ") -> None:
        self.vocab, self.tokenizer, self.joiner = vocab, tokenizer, joiner

    def encode(self, text: str, unknowns: Counter | None = None) -> list[int]:
        return self.vocab.encode(_as_strings(self.tokenizer(text)), unknowns)

    def decode(self, ids: Iterable[int]) -> str:
        return self.joiner.join(self.vocab.decode(ids))

    def spec(self) -> dict[str, Any]:
        return {"codec": self.name, "vocab": self.vocab.to_dict(counts=False), "tokenizer": _tokenizer_spec(self.tokenizer), "joiner": self.joiner}

    @classmethod
    def from_spec(cls, spec: dict, where: str, tokenizer: Callable | None = None, **_: Any) -> "WordCodec":
        vocab = Vocab.from_dict(spec.get("vocab"), where=f"{where}: vocab")
        return cls(vocab, tokenizer or _tokenizer_from_spec(spec.get("tokenizer"), where), spec.get("joiner", " "))


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
    raise ConfigError(f"{where}: the word tokenizer {spec!r} cannot be rebuilt from the spec alone; pass tokenizer=... to codec_from_spec / load_codec")


@lru_cache(maxsize=8)
def _load_sentencepiece(path: str, mtime_ns: int) -> Any:
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=path)




@CODECS.register("sentencepiece")
class SentencePieceCodec:
    """A sentencepiece model; ids are the model's own. Only the path is held (the processor loads
    lazily, once per process), so the codec pickles cheaply. The spec records the model's sha256,
    and loading refuses a different file at that path."""

    name: ClassVar[str] = "sentencepiece"

    def __init__(self, model_path: str | Path) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ResourceMissingError(f"sentencepiece model not found: {self.model_path}")

    @property
    def processor(self) -> Any:
        return _load_sentencepiece(str(self.model_path.resolve()), self.model_path.stat().st_mtime_ns)

    @property
    def size(self) -> int:
        return int(self.processor.get_piece_size())

    @property
    def unk_id(self) -> int | None:
        return _id_or_none(self.processor.unk_id())

    @property
    def eos_id(self) -> int | None:
        return _id_or_none(self.processor.eos_id())

    def encode(self, text: str, unknowns: Counter | None = None) -> list[int]:
        ids = self.processor.encode(text, out_type=int)
        unk = self.unk_id
        if unknowns is not None and unk is not None:
            n = ids.count(unk)
            if n:
                unknowns[self.processor.id_to_piece(unk)] += n
        return ids

    def encode_array(self, text: str, unknowns: Counter | None = None) -> np.ndarray:
        return np.asarray(self.encode(text, unknowns), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        return self.processor.decode([int(i) for i in ids])

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


def _id_or_none(i: int) -> int | None:
    return None if i < 0 else int(i)


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
    data = _read_json(path)
    if not isinstance(data, dict) or data.get("format") != CODEC_FORMAT:
        raise InputError(f"{path}: not a textseq codec file (format should be {CODEC_FORMAT!r})")
    if data.get("version") != CODEC_VERSION:
        raise InputError(f"{path}: codec version {data.get('version')!r} is not supported")
    return codec_from_spec(data, where=str(path), base_dir=Path(path).parent, tokenizer=tokenizer)
