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
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

from textseq.config import describe_validation_error
from textseq.errors import ConfigError
from textseq.registry import Registry

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
    """str -> str. Subclasses implement `aligned`, which also maps each output character to the span
    of original characters it came from, so tokens can report offsets into the original text."""

    consumes: ClassVar[Kind] = "text"
    produces: ClassVar[Kind] = "text"

    def aligned(self, text: str, starts: list[int], ends: list[int]) -> tuple[str, list[int], list[int]]:
        """Like `process`, carrying per-character source spans: output char i came from
        original[starts[i]:ends[i]]. The default is correct only for length-preserving, char-for-char
        stages; every stage that can change lengths overrides it."""
        out = self.process(text)
        if len(out) != len(text):
            raise NotImplementedError(f"stage {self.name!r} changes lengths but does not implement aligned()")
        return out, starts, ends


class Tokenizer(Stage):
    """str -> list[Token], offsets relative to the string it is given."""

    consumes: ClassVar[Kind] = "text"
    produces: ClassVar[Kind] = "tokens"


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


def token_texts(tokens: list[Token]) -> list[str]:
    """The strings of a token list."""
    return [t.text for t in tokens]


def _ensure_builtin_stages() -> None:
    # Importing the modules registers their stages; done on first lookup, never at package import.
    from textseq.text import stages  # noqa: F401
