"""Normalization stages: str -> str rewrites that run before tokenization.

Every stage has two paths that must agree: `process` (fast: plain `re.sub` / str methods, ASCII
short cuts) and `rewrite`, which also reports the edits it made, so that token offsets can point
into the original document (see textseq.text.align). Most stages describe their rewrite as "a
compiled regex plus a replacement callback" and let `sub_edits` record the edits; a stage that
changes nothing reports none, which is what keeps original offsets cheap.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable, Literal

from pydantic import model_validator

from textseq.text.align import Edit, Rewrite, identity_spans, sub_edits  # noqa: F401 (identity_spans: re-exported)
from textseq.text.base import TextStage, register_stage
from textseq.text.patterns import Patterns  # noqa: F401 (re-exported; importing it registers the stage)

# --- Unicode tables, built once on first use (scanning all code points takes ~0.3 s) ---

@lru_cache(maxsize=None)
def _by_category() -> dict[str, tuple[int, ...]]:
    found: dict[str, list[int]] = {}
    for cp in range(0x110000):
        cat = unicodedata.category(chr(cp))
        if cat[0] in "PSCMZ" and cat not in ("Cn", "Co"):
            found.setdefault(cat, []).append(cp)
    return {cat: tuple(cps) for cat, cps in found.items()}


def _codepoints(*prefixes: str) -> set[int]:
    return {cp for cat, cps in _by_category().items() if cat.startswith(prefixes) for cp in cps}


def _ranges(cps: set[int]) -> str:
    """The body of a regex character class for exactly `cps`, as compact ranges."""
    parts, items, i = [], sorted(cps), 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        parts.append(f"\\U{items[i]:08x}" if i == j else f"\\U{items[i]:08x}-\\U{items[j]:08x}")
        i = j + 1
    return "".join(parts)


def _char_class(cps: set[int]) -> str:
    """A regex matching one char of `cps`, starting with a plain class so `re` can skip ahead fast."""
    bmp, astral = _ranges({c for c in cps if c < 0x10000}), _ranges({c for c in cps if c >= 0x10000})
    if not astral:
        return f"[{bmp}]" if bmp else "(?!)"
    # `re` tests astral ranges one by one for every char it rejects, which made the P/S class ~7x
    # slower on ordinary text; one coarse astral range plus a check of the char just taken is not.
    return f"[{bmp}\\U00010000-\\U0010ffff](?<=[{bmp}{astral}])"


# Only ASCII letters and < = > ever compose with a following non-ASCII char (e + U+0301, = + U+0338),
# and no ASCII char composes with what precedes it, so normalizing each non-ASCII run together with
# such a char before it gives the same result as normalizing the whole text.
_NON_ASCII_RUN = re.compile(r"[A-Za-z<=>]?[^\x00-\x7f]+")


@register_stage("unicode")
class Unicode(TextStage):
    """Unicode normalization. NFKC also folds compatibility forms: ligatures, full width, superscripts."""

    form: Literal["NFC", "NFKC", "NFD", "NFKD"] = "NFC"

    def process(self, text: str) -> str:
        """Normalize `text` to `form`."""
        return text if text.isascii() else unicodedata.normalize(self.form, text)

    def rewrite(self, text: str) -> Rewrite:
        """As `process`; each output char of a normalized run maps to the whole run's span."""
        if text.isascii() or unicodedata.is_normalized(self.form, text):
            return text, []
        return sub_edits(_NON_ASCII_RUN, lambda m: unicodedata.normalize(self.form, m.group()), text)


_NON_ASCII_CHAR = re.compile(r"[^\x00-\x7f]")


@register_stage("case")
class Case(TextStage):
    """Lowercase (`lower`) or Unicode case folding (`casefold`: also ß -> ss, ς -> σ; for matching)."""

    mode: Literal["lower", "casefold"] = "lower"

    def process(self, text: str) -> str:
        """Lowercase or casefold `text`."""
        return text.lower() if self.mode == "lower" else text.casefold()

    def rewrite(self, text: str) -> Rewrite:
        """As `process`; a char that grows (İ -> i̇, ß -> ss) maps all its pieces to its own span."""
        out = self.process(text)
        if len(out) == len(text):
            return out, []  # case mapping is char-for-char unless a length changes
        # Only the Final_Sigma rule of lower() depends on context, and it never changes a length, so
        # mapping char by char gives the right edits; the text itself comes from `process`.
        fold = str.lower if self.mode == "lower" else str.casefold
        return out, sub_edits(_NON_ASCII_CHAR, lambda m: fold(m.group()), text)[1]


# The combining diacritical mark blocks: the accents of Latin, Greek and Cyrillic. Script-specific
# marks (Devanagari vowel signs, Hebrew points, the Japanese voicing mark) live in their own blocks
# and change meaning or spelling when removed, so the default leaves them alone.
_DIACRITICS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


@lru_cache(maxsize=None)
def _all_marks() -> re.Pattern[str]:
    return re.compile(_char_class(_codepoints("Mn")) + "+")


@register_stage("strip_accents")
class StripAccents(TextStage):
    """Remove accents: "café naïve" -> "cafe naive". The result is NFC.

    marks="diacritics" strips only the Combining Diacritical Marks blocks (the accents of Latin,
    Greek and Cyrillic text) and keeps other scripts intact; marks="all" strips every nonspacing
    mark (Mn), as scikit-learn's strip_accents="unicode" does, which also breaks Hindi or Hebrew."""

    marks: Literal["diacritics", "all"] = "diacritics"

    def process(self, text: str) -> str:
        """Decompose, drop the chosen combining marks, recompose."""
        if text.isascii():
            return text
        marks = _DIACRITICS if self.marks == "diacritics" else _all_marks()
        return unicodedata.normalize("NFC", marks.sub("", unicodedata.normalize("NFD", text)))

    def rewrite(self, text: str) -> Rewrite:
        """As `process`, one non-ASCII run at a time (see `_NON_ASCII_RUN`)."""
        if text.isascii():
            return text, []
        return sub_edits(_NON_ASCII_RUN, lambda m: self.process(m.group()), text)


# Keys use a straight apostrophe and lower case; matching also accepts ’ and any case. A key that
# starts with an apostrophe, or is "n't", is a suffix: its value replaces it after any word
# (they'll -> they will). Other keys are whole words. 's means "is" only after the pronouns listed,
# since elsewhere it is a possessive; 'd is read as "would" (it may also mean "had").
CONTRACTIONS: dict[str, str] = {
    "won't": "will not", "can't": "cannot", "shan't": "shall not", "ain't": "is not",
    "let's": "let us", "y'all": "you all", "ma'am": "madam",
    "it's": "it is", "that's": "that is", "what's": "what is", "there's": "there is",
    "here's": "here is", "he's": "he is", "she's": "she is", "who's": "who is",
    "where's": "where is", "how's": "how is",
    "n't": " not", "'re": " are", "'m": " am", "'ll": " will", "'ve": " have", "'d": " would",
}


def _contraction_key(key: str) -> str:
    return key.replace("\u2019", "'").lower()


def _is_suffix(key: str) -> bool:
    return key.startswith("'") or key == "n't"


def _alternation(keys: list[str]) -> str:
    keys = sorted(keys, key=lambda k: (-len(k), k))  # longest first, so "y'all" beats "y'"
    return "|".join(re.escape(k).replace("'", "['\u2019]") for k in keys) or "(?!)"


@lru_cache(maxsize=64)
def _contraction_table(mapping: tuple[tuple[str, str], ...], drop: tuple[str, ...]) -> tuple[re.Pattern[str], dict[str, str]]:
    table = dict(CONTRACTIONS)
    table.update({_contraction_key(k): v for k, v in mapping})
    for key in drop:
        table.pop(_contraction_key(key), None)
    words = [k for k in table if not _is_suffix(k)]
    suffixes = [k for k in table if _is_suffix(k)]
    # Matching the whole word (stem included) makes every expanded char map to the whole
    # original word, so "Don't" -> "Do not" gives both tokens the span of "Don't".
    # When every key has an apostrophe, skipping words without one makes this ~2x faster.
    has_apostrophe = r"(?=\w{0,40}['\u2019])" if all("'" in k for k in table) else ""
    pattern = (
        rf"(?<![\w'\u2019]){has_apostrophe}(?:(?P<word>{_alternation(words)})"
        rf"|(?P<stem>[^\W\d_]+?)(?P<suffix>{_alternation(suffixes)}))(?!\w)"
    )
    return re.compile(pattern, re.IGNORECASE), table


def _with_case(source: str, expansion: str) -> str:
    """Give `expansion` the capitalization of `source`: DON'T -> DO NOT, Won't -> Will not."""
    if source.isupper() and sum(c.isalpha() for c in source) > 1:
        return expansion.upper()
    if source[:1].isupper():
        return expansion[:1].upper() + expansion[1:]
    return expansion


@register_stage("contractions")
class Contractions(TextStage):
    """Expand English contractions: "Don't" -> "Do not", "won't" -> "will not", "I’m" -> "I am".

    `mapping` adds or overrides entries of CONTRACTIONS (same key conventions); `drop` removes
    entries by key, e.g. drop=["'d"] to leave the ambiguous 'd alone."""

    mapping: dict[str, str] = {}
    drop: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check_keys(self) -> "Contractions":
        if any(not k.strip() for k in self.mapping):
            raise ValueError("mapping keys must be non-empty")
        known = set(CONTRACTIONS) | {_contraction_key(k) for k in self.mapping}
        unknown = [k for k in self.drop if _contraction_key(k) not in known]
        if unknown:
            raise ValueError(f"drop: unknown contraction(s) {unknown}; known: {', '.join(sorted(known))}")
        return self

    def _compiled(self) -> tuple[re.Pattern[str], Callable[[re.Match[str]], str]]:
        pattern, table = _contraction_table(tuple(sorted(self.mapping.items())), tuple(self.drop))

        def expand(m: re.Match[str]) -> str:
            if m.group("word") is not None:
                return _with_case(m.group("word"), table[_contraction_key(m.group("word"))])
            suffix = m.group("suffix")
            return m.group("stem") + _with_case(suffix, table[_contraction_key(suffix)])

        return pattern, expand

    def process(self, text: str) -> str:
        """Expand every contraction in `text`."""
        if "'" not in text and "\u2019" not in text and not self.mapping:
            return text  # every built-in entry has an apostrophe
        pattern, expand = self._compiled()
        return pattern.sub(expand, text)

    def rewrite(self, text: str) -> Rewrite:
        """As `process`; the expansion maps to the whole contracted word."""
        if "'" not in text and "\u2019" not in text and not self.mapping:
            return text, []
        pattern, expand = self._compiled()
        return sub_edits(pattern, expand, text)


_PLACEHOLDER = "<[a-z][a-z0-9_]*>"
# Variation selectors, ZWJ and emoji tag characters go with the symbol they modify.
_SYMBOL_TAIL = "[\ufe0e\ufe0f\u200d\U000e0020-\U000e007f]*"


@lru_cache(maxsize=64)
def _punctuation_regex(keep: str, symbols: bool, keep_placeholders: bool) -> re.Pattern[str]:
    cps = _codepoints("P", "S") if symbols else _codepoints("P")
    cps -= {ord(c) for c in keep}
    one = _char_class(cps)
    if keep_placeholders and ord("<") in cps:
        # A run's first char may open a placeholder, which is then taken whole (and kept); a run
        # never continues into one, so "<url>." loses the "." but keeps "<url>".
        return re.compile(f"{one}(?:(?<=<)(?P<ph>[a-z][a-z0-9_]*>)|{_SYMBOL_TAIL}(?:(?!{_PLACEHOLDER}){one}{_SYMBOL_TAIL})*)")
    return re.compile(f"{one}{_SYMBOL_TAIL}(?:{one}{_SYMBOL_TAIL})*")


@register_stage("punctuation")
class Punctuation(TextStage):
    """Remove punctuation (and symbols), or turn each run of it into one space.

    Punctuation is Unicode P*; with `symbols`, symbols (S*: $ + ^ © emoji) go too. `mode="space"`
    turns each run into one space. Characters in `keep` stay; placeholders like <url> stay whole
    unless `keep_placeholders` is off."""

    mode: Literal["remove", "space"] = "remove"
    keep: str = ""
    symbols: bool = True
    keep_placeholders: bool = True

    def _compiled(self) -> tuple[re.Pattern[str], Callable[[re.Match[str]], str]]:
        fill = "" if self.mode == "remove" else " "
        pattern = _punctuation_regex(self.keep, self.symbols, self.keep_placeholders)
        if "ph" in pattern.groupindex:
            return pattern, lambda m: fill if m.group("ph") is None else m.group()
        return pattern, lambda m: fill

    def process(self, text: str) -> str:
        """Remove or space out punctuation in `text`."""
        pattern, repl = self._compiled()
        return pattern.sub(repl, text)

    def rewrite(self, text: str) -> Rewrite:
        """As `process`; a space maps to the run it replaced."""
        pattern, repl = self._compiled()
        return sub_edits(pattern, repl, text)


# Line breaks of every convention become "\n"; tab and the unit separator become a space.
_CONTROL_MAP = {"\r\n": "\n", "\t": " ", "\x1f": " "}
_CONTROL_MAP.update(dict.fromkeys("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", "\n"))
_JOINERS = "\u200c\u200d"


@lru_cache(maxsize=None)
def _control_regex(keep_joiners: bool) -> re.Pattern[str]:
    mapped = {ord(c) for c in _CONTROL_MAP if len(c) == 1}
    removable = _codepoints("Cc", "Cf", "Cs") - mapped - {ord("\n")}
    # One char from the class first (fast to scan for), then: ESC takes its ANSI colour/cursor
    # sequence along (removed whole), and \r its \n.
    pattern = _char_class(removable | mapped | _codepoints("Zs") - {32}) + r"(?:(?<=\x1b)\[[0-?]*[ -/]*[@-~]|(?<=\r)\n)?"
    if keep_joiners:
        # ZWJ/ZWNJ matter only between two visible non-ASCII chars (emoji sequences, Indic and
        # Persian spelling); elsewhere they are invisible noise. Neighbours must themselves survive
        # this stage, so that running it twice changes nothing.
        visible = rf"[^\x00-\x7f\s{_ranges(removable)}]"
        pattern += rf"(?:(?<![{_JOINERS}])|(?<=(?<!{visible})[{_JOINERS}])|(?<=[{_JOINERS}])(?!{visible}))"
    return re.compile(pattern)


def _control_repl(m: re.Match[str]) -> str:
    s = m.group()
    r = _CONTROL_MAP.get(s)
    if r is not None:
        return r
    return " " if len(s) == 1 and unicodedata.category(s) == "Zs" else ""


@register_stage("control_chars")
class ControlChars(TextStage):
    """Remove control and format characters; unify line breaks and spaces.

    Removed: NUL, ESC sequences, BOM, bidi overrides, zero-width space, soft hyphen, lone
    surrogates. \\r\\n, \\r, U+2028, U+0085 become "\\n"; tabs and Unicode spaces become " ".
    With `keep_joiners`, ZWJ/ZWNJ between non-ASCII chars stay (emoji, scripts)."""

    keep_joiners: bool = True

    def process(self, text: str) -> str:
        """Clean control characters out of `text`."""
        return _control_regex(self.keep_joiners).sub(_control_repl, text)

    def rewrite(self, text: str) -> Rewrite:
        """As `process`."""
        return sub_edits(_control_regex(self.keep_joiners), _control_repl, text)


# Whole whitespace runs that need rewriting; a lone " " inside the text is already right, and not
# matching it keeps the callback count (and time) down.
_SPACE_RUN = re.compile(r" ?[^\S ]\s*| \s+|\A | \Z")
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


# The runs `_SPACE_RUN` matches, less a lone space at either end, but starting with one char class:
# `re` scans for such a pattern ~4x faster.
_SPACE_RUN_INSIDE = re.compile(r"\s(?:(?<=[^\S ])\s*|\s+)")


def _space_edits(text: str) -> list[Edit]:
    """The edits of `_SPACE_RUN.sub(_space_repl, text)`: each run becomes " ", or nothing at an end."""
    n = len(text)
    edits = [(a, b, 0 if a == 0 or b == n else 1) for a, b in map(re.Match.span, _SPACE_RUN_INSIDE.finditer(text))]
    if text[:1] == " " and not (edits and edits[0][0] == 0):
        edits.insert(0, (0, 1, 0))
    if text[-1:] == " " and not (edits and edits[-1][1] == n):
        edits.append((n - 1, n, 0))
    return edits


def _space_repl(m: re.Match[str]) -> str:
    return "" if m.start() == 0 or m.end() == len(m.string) else " "


def _space_or_newline_repl(m: re.Match[str]) -> str:
    if m.start() == 0 or m.end() == len(m.string):
        return ""
    return "\n" if _LINE_BREAK.search(m.group()) else " "


@register_stage("whitespace")
class Whitespace(TextStage):
    """Collapse each run of whitespace to one space and strip both ends.

    With `keep_newlines`, a run that held a line break becomes "\\n" instead."""

    keep_newlines: bool = False

    def process(self, text: str) -> str:
        """Collapse and strip whitespace in `text`."""
        if not self.keep_newlines:
            return " ".join(text.split())  # str.split and regex \s agree on what whitespace is
        return _SPACE_RUN.sub(_space_or_newline_repl, text)

    def rewrite(self, text: str) -> Rewrite:
        """As `process`; a collapsed space maps to the run it replaced."""
        if self.keep_newlines:
            return sub_edits(_SPACE_RUN, _space_or_newline_repl, text)
        out = " ".join(text.split())
        return (text, []) if out == text else (out, _space_edits(text))


DEFAULT_NORMALIZERS: tuple[TextStage, ...] = (Unicode(form="NFKC"), ControlChars(), Case(), Whitespace())
"""A sensible default chain for configs and tests: NFKC, control characters, lowercase, whitespace."""
