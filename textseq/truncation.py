"""Length policy of a codec: how a document is cut to `max_tokens`, and what an empty one becomes.

    text --precut--> at most max_tokens * CHARS_PER_TOKEN characters   (before the costly tokenizer)
         --tokenize--> tokens --empty?--> one unk token                  (empty="unk")
         --truncate--> at most max_tokens tokens (head | tail | head_tail)

`Truncation()` (no limit, empty kept empty) changes nothing, which is what a language model's codec
holds; a classifier's codec holds e.g. `Truncation(400, "head_tail", 0.25, empty="unk")`, because its
models need every document to have at least one id. `EncodeStats` counts what encoding did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

from textseq.errors import ConfigError, InputError

Truncate = Literal["head", "tail", "head_tail"]
TRUNCATIONS = ("head", "tail", "head_tail")
EMPTY_POLICIES = ("keep", "unk")
# Before tokenizing, a document longer than max_tokens * CHARS_PER_TOKEN characters is cut to that
# many characters (the same policy), so a million-character review costs no more than a long one.
# 20 is generous: English averages ~5.5 characters per word token, and stop-word removal only lowers
# the tokens kept per character.
CHARS_PER_TOKEN = 20


def split_budget(max_tokens: int, policy: Truncate, head_fraction: float) -> tuple[int, int]:
    """(tokens kept from the head, tokens kept from the tail) of a longer document."""
    if policy == "head":
        return max_tokens, 0
    if policy == "tail":
        return 0, max_tokens
    if policy != "head_tail":
        raise ConfigError(f"unknown truncation {policy!r}; valid: {', '.join(TRUNCATIONS)}")
    head = min(max_tokens, max(0, round(max_tokens * head_fraction)))
    return head, max_tokens - head


def truncate(items: Sequence[Any], max_tokens: int | None, policy: Truncate = "head", head_fraction: float = 0.25) -> Sequence[Any]:
    """Keep at most `max_tokens` items: the first (head), the last (tail), or both ends (head_tail:
    round(max_tokens * head_fraction) from the start, the rest from the end; Sun et al. 2019)."""
    if max_tokens is None or len(items) <= max_tokens:
        return items
    head, tail = split_budget(max_tokens, policy, head_fraction)
    return list(items[:head]) + list(items[len(items) - tail:]) if tail else items[:head]


def precut(text: str, max_tokens: int | None, policy: Truncate = "head", head_fraction: float = 0.25) -> str:
    """Cut a very long text to about max_tokens * CHARS_PER_TOKEN characters with the same policy,
    at whitespace, before the (costly) pipeline runs; shorter texts come back unchanged."""
    if max_tokens is None:
        return text
    limit = max_tokens * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text
    head, tail = split_budget(limit, policy, head_fraction)
    out = ""
    if head:
        cut = text.rfind(" ", head // 2, head)
        out = text[:cut if cut > 0 else head]
    if tail:
        start = len(text) - tail
        cut = text.find(" ", start, start + tail // 2)
        out += "\n" + text[cut + 1 if cut >= 0 else start:]
    return out


@dataclass(frozen=True)
class Truncation:
    """A codec's length policy (see the module docstring); frozen, so codecs can share one."""

    max_tokens: int | None = None
    policy: Truncate = "head_tail"
    head_fraction: float = 0.25  # head_tail: this share of max_tokens from the start
    empty: Literal["keep", "unk"] = "keep"  # "unk": a document with no token becomes one unk token

    def __post_init__(self) -> None:
        if self.max_tokens is not None and (isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1):
            raise ConfigError(f"truncation max_tokens must be an integer >= 1 or null, got {self.max_tokens!r}")
        if self.policy not in TRUNCATIONS:
            raise ConfigError(f"unknown truncation {self.policy!r}; valid: {', '.join(TRUNCATIONS)}")
        if not 0.0 <= self.head_fraction <= 1.0:
            raise ConfigError(f"truncation head_fraction must be in [0, 1], got {self.head_fraction!r}")
        if self.empty not in EMPTY_POLICIES:
            raise ConfigError(f"unknown empty-document policy {self.empty!r}; valid: {', '.join(EMPTY_POLICIES)}")

    @property
    def is_noop(self) -> bool:
        """True when this policy leaves every document as it is."""
        return self.max_tokens is None and self.empty == "keep"

    def precut(self, text: str) -> str:
        """The text cut to about max_tokens * CHARS_PER_TOKEN characters (see `precut`)."""
        return precut(text, self.max_tokens, self.policy, self.head_fraction)

    def truncate(self, items: Sequence[Any]) -> Sequence[Any]:
        """At most max_tokens of `items`, by the policy (see `truncate`)."""
        return truncate(items, self.max_tokens, self.policy, self.head_fraction)

    def spec(self) -> dict[str, Any]:
        """Plain JSON data; `Truncation.from_spec` rebuilds an equal policy."""
        return asdict(self)

    @classmethod
    def from_spec(cls, data: Any, where: str = "truncation") -> "Truncation":
        """Validate plain data from `spec`; errors name `where` and the key."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected an object, got {type(data).__name__}")
        extra = sorted(set(data) - set(cls.__dataclass_fields__))
        if extra:
            raise InputError(f"{where}: unknown key(s) {extra}")
        try:
            return cls(**data)
        except (ConfigError, TypeError) as err:
            raise InputError(f"{where}: {err}") from None


@dataclass
class EncodeStats:
    """What encoding a split did, besides the ids: written beside the arrays and logged."""

    documents: int = 0
    empty: int = 0  # no token after preprocessing: encoded as one <unk>
    truncated: int = 0  # longer than max_tokens
    tokens: int = 0
    unknown: int = 0  # tokens mapped to <unk>
    skipped_unseen_labels: int = 0  # documents dropped because their label is not a training class
    top_unknowns: list[tuple[str, int]] = field(default_factory=list)
