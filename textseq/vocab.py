"""Token <-> id mappings: `Vocab`, a list of token strings, id = position, specials first, saved
as JSON. The codecs that turn a whole text into ids and back (built on a Vocab or on a
sentencepiece model) are in textseq.codecs.

Specials are named by role ("pad", "unk", "bos", "eos"). The roles present take ids 0, 1, ... in
that fixed order, so a word vocab with all four has <pad>=0 <unk>=1 <bos>=2 <eos>=3. A character
vocab has only "unk", spelled U+FFFD (the Unicode replacement character), so it has id 0 and decodes
to the character every text tool already shows for "something was here that we cannot represent";
a character LM needs no padding (batches are contiguous streams) and newlines already mark ends.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from textseq.errors import ConfigError, InputError

SPECIAL_ROLES = ("pad", "unk", "bos", "eos")  # the order in which present specials take ids 0, 1, ...
DEFAULT_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "bos": "<bos>", "eos": "<eos>"}
CHAR_SPECIALS = {"unk": "\ufffd"}
VOCAB_FORMAT, VOCAB_VERSION = "textseq.vocab", 1


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


def as_strings(tokens: Iterable[Any]) -> list[str]:
    """Accept plain strings or textseq Tokens (anything with `.text`)."""
    tokens = list(tokens)
    if tokens and not isinstance(tokens[0], str):
        return [t.text for t in tokens]
    return tokens


def _iter_strings(tokens: Iterable[Any]) -> Iterator[str]:
    """Like `as_strings`, lazily: the first item decides (a Token stream would otherwise be counted
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
    def for_characters(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> "Vocab":
        """A character (code point) vocabulary; its only special is unk = U+FFFD."""
        counter: Counter[str] = Counter()
        for text in texts:
            counter.update(text)
        return cls._from_counter(counter, min_freq, max_size, CHAR_SPECIALS)

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
            tokens = as_strings(tokens)  # a list: walked twice when counting unknowns
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
        return cls.from_dict(read_json_file(path), where=str(path))


def read_json_file(path: str | Path) -> Any:
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
