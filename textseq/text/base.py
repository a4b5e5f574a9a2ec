"""The contract every preprocessing stage follows.

A stage is data: a frozen pydantic model whose fields are its parameters, registered by name,
serialisable to a spec (`{"stage": name, **params}`) and back, and picklable (no lambdas, no
loaded resources in its fields), so that multiprocessing and `datasets.map` caching work. Heavy
resources load lazily through cached loaders in `textseq.resources`.

Two kinds of value flow between stages:

    "text"   -> a str (a whole document)
    "tokens" -> a list[Token]; each Token carries its character span in the *original* document

A pipeline is valid when each stage consumes what the previous one produces; it starts on text.
"""

from __future__ import annotations

import re
from itertools import repeat
from typing import Any, ClassVar, Iterable, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from textseq.config import describe_validation_error
from textseq.errors import ConfigError
from textseq.registry import Registry
from textseq.text.align import IDENTITY, Edit, OffsetMap, spans_after

Kind = Literal["text", "tokens"]


class Token(NamedTuple):
    """A token and its span [start, end) in the original document (after any normalization)."""

    text: str
    start: int
    end: int


STAGES: Registry[type["Stage"]] = Registry("stage")


class Stage(BaseModel):
    """Base class of every pipeline stage. Subclasses set `consumes`/`produces` and implement `process`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ClassVar[str] = ""
    consumes: ClassVar[Kind] = "text"
    produces: ClassVar[Kind] = "text"

    def process(self, value: Any) -> Any:
        """Transform one value of kind `consumes` into one value of kind `produces`."""
        raise NotImplementedError

    def process_batch(self, values: list[Any]) -> list[Any]:
        """Transform many values at once; stages backed by batched libraries override this."""
        return [self.process(v) for v in values]

    def __call__(self, value: Any) -> Any:
        """Use the stage alone on a plain string. Token stages split a str on whitespace first."""
        if self.consumes == "tokens" and isinstance(value, str):
            value = whitespace_tokens(value)
        return self.process(value)

    def spec(self) -> dict[str, Any]:
        """The stage as plain data: `{"stage": name, **every parameter}`."""
        return {"stage": self.name, **self.model_dump(mode="json")}


class TextStage(Stage):
    """str -> str. Subclasses that change lengths implement `rewrite`, which also reports what they
    changed, so tokens can report offsets into the original text (see textseq.text.align)."""

    consumes: ClassVar[Kind] = "text"
    produces: ClassVar[Kind] = "text"

    def rewrite(self, text: str) -> tuple[str, list[Edit]]:
        """Like `process`, also returning the edits that turn `text` into the output: `(a, b, n)`
        says text[a:b] became n output chars. The default is correct only for length-preserving,
        char-for-char stages; every stage that can change lengths overrides it."""
        out = self.process(text)
        if len(out) != len(text):
            raise NotImplementedError(f"stage {self.name!r} changes lengths but does not implement rewrite()")
        return out, []

    def aligned(self, text: str, starts: list[int], ends: list[int]) -> tuple[str, list[int], list[int]]:
        """Like `process`, carrying per-character source spans: output char i came from
        original[starts[i]:ends[i]]. Derived from `rewrite`; a stage may override this instead, and
        pipelines then carry per-character spans through all their text stages."""
        out, edits = self.rewrite(text)
        return (out, *spans_after(edits, starts, ends))

    @classmethod
    def reports_edits(cls) -> bool:
        """Whether `rewrite` describes this stage's alignment: not when only `aligned` is overridden."""
        return cls.aligned is TextStage.aligned or cls.rewrite is not TextStage.rewrite


class Tokenizer(Stage):
    """str -> list[Token], offsets relative to the string it is given."""

    consumes: ClassVar[Kind] = "text"
    produces: ClassVar[Kind] = "tokens"

    def process_mapped(self, texts: list[str], maps: list[OffsetMap], n_orig: list[int]) -> list[list[Token]]:
        """Tokenize normalized `texts`, with offsets mapped through `maps` into the original
        documents (of `n_orig` chars). Tokenizers that can map spans before building Tokens override this."""
        return map_token_batches(self.process_batch(texts), texts, maps, n_orig)


class TokenStage(Stage):
    """list[Token] -> list[Token]: filters (stop words) and rewrites (stems, lemmas)."""

    consumes: ClassVar[Kind] = "tokens"
    produces: ClassVar[Kind] = "tokens"


def register_stage(name: str):
    """Class decorator: register a Stage subclass under `name` (the `stage:` key in YAML)."""

    def decorate(cls: type[Stage]) -> type[Stage]:
        cls.name = name
        STAGES.register(name)(cls)
        return cls

    return decorate


def stage_from_spec(spec: dict[str, Any], where: str = "stage") -> Stage:
    """Build a stage from `{"stage": name, **params}`; errors name `where`, the key and valid choices."""
    if not isinstance(spec, dict) or "stage" not in spec:
        raise ConfigError(f"{where}: each stage must be a mapping with a 'stage' key, got {spec!r}")
    _ensure_builtin_stages()
    params = {k: v for k, v in spec.items() if k != "stage"}
    try:
        cls = STAGES.get(spec["stage"])
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    try:
        return cls.model_validate(params)
    except ValidationError as err:
        msg = describe_validation_error(err, f"{where} ({cls.name})", cls)
        raise ConfigError(msg) from None


_WS = re.compile(r"\S+")


def whitespace_tokens(text: str) -> list[Token]:
    """Split on whitespace, keeping offsets: the convenience used when a token stage gets a str."""
    return [Token(m.group(), m.start(), m.end()) for m in _WS.finditer(text)]


# A NamedTuple's __new__ is Python code (~0.25 us a call); tuple.__new__(Token, (text, start, end))
# builds the very same Token in C. Token building is the hot path of tokenizers and token stages.
new_token = tuple.__new__


def tokens_from(texts: Iterable[str], starts: Iterable[int], ends: Iterable[int]) -> list[Token]:
    """Tokens from parallel sequences of texts, starts and ends, built without Python-level calls."""
    return list(map(new_token, repeat(Token), zip(texts, starts, ends)))


def map_tokens(tokens: list[Token], omap: OffsetMap, n: int, n_orig: int) -> list[Token]:
    """Turn offsets into a normalized text of `n` chars into offsets into the original (of `n_orig`
    chars): a token covering normalized chars [s, e) came from [start of char s, end of char e-1)."""
    if all(0 <= t[1] < t[2] <= n for t in tokens):  # the usual case: no empty tokens
        if omap is IDENTITY:
            return tokens
        starts, ends = omap.spans(np.array([t[1] for t in tokens]), np.array([t[2] for t in tokens]))
        return tokens_from([t[0] for t in tokens], starts, ends)
    out = []
    for text, s, e in tokens:
        if s >= n:  # an empty token at the very end
            out.append(Token(text, n_orig, n_orig))
        elif e <= s:  # an empty token (e.g. a lone sentencepiece marker)
            out.append(Token(text, omap.start_of(s), omap.start_of(s)))
        else:
            out.append(Token(text, omap.start_of(s), omap.end_of(min(e, n) - 1)))
    return out


def map_token_batches(batches: list[list[Token]], texts: list[str], maps: list[OffsetMap], n_orig: list[int]) -> list[list[Token]]:
    """`map_tokens` for each document of a batch."""
    return [map_tokens(toks, omap, len(text), n) for toks, omap, text, n in zip(batches, maps, texts, n_orig)]


def token_texts(tokens: list[Token]) -> list[str]:
    """The strings of a token list."""
    return [t.text for t in tokens]


def _ensure_builtin_stages() -> None:
    # Importing the modules registers their stages; done on first lookup, never at package import.
    from textseq.text import stages  # noqa: F401
