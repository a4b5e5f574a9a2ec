"""Stop-word filtering: drop tokens found in a stop list (spaCy, gensim, NLTK or a user file).

The list is built once per distinct parameter set by the cached `stopword_set`; per token the stage
does one lookup in a memo of its keep/drop decisions, so it stays cheap on the hot path.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal

from pydantic import model_validator

from textseq.errors import ConfigError, InputError, ResourceMissingError
from textseq.text.base import Token, TokenStage, register_stage
from textseq.text.memo import Memo

Source = Literal["spacy", "gensim", "nltk", "file", "none"]
Preset = Literal["none", "sentiment"]

# Negations flip a sentence's polarity, so a sentiment model must still see them even though every
# general-purpose stop list drops them. spaCy splits "don't" into "do" + "n't", hence the bare
# clitic forms (ASCII and typographic apostrophes); the whole contractions cover whitespace tokens.
NEGATIONS: frozenset[str] = frozenset(
    """not no nor never n't n’t n‘t nt neither nobody none nothing nowhere noone cannot without
    against hardly barely scarcely ain't aren't can't couldn't didn't doesn't don't hadn't hasn't
    haven't isn't mightn't mustn't needn't shan't shouldn't wasn't weren't won't wouldn't""".split()
)
_NEGATIONS_ALL = NEGATIONS | {w.replace("'", "’") for w in NEGATIONS}

# NLTK names its stop lists by English language name; configs elsewhere use ISO codes.
_NLTK_LANGUAGE_NAMES = {
    "ar": "arabic", "az": "azerbaijani", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "es": "spanish", "fi": "finnish", "fr": "french", "hu": "hungarian",
    "id": "indonesian", "it": "italian", "kk": "kazakh", "nb": "norwegian", "ne": "nepali",
    "nl": "dutch", "no": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sl": "slovene", "sv": "swedish", "tg": "tajik", "tr": "turkish",
}


def _spacy_words(language: str) -> frozenset[str]:
    import spacy.util

    try:
        return frozenset(spacy.util.get_lang_class(language).Defaults.stop_words)
    except Exception:  # spaCy raises ImportError for unknown language codes
        raise ResourceMissingError(f"stopwords: spaCy has no language {language!r}, so no stop list") from None


def _gensim_words(language: str) -> frozenset[str]:
    if language not in ("en", "english"):
        raise ConfigError(f"stopwords: gensim's stop list is English only, got language {language!r}")
    from gensim.parsing.preprocessing import STOPWORDS

    return frozenset(STOPWORDS)


def _nltk_words(language: str) -> frozenset[str]:
    from nltk.corpus import stopwords

    name = _NLTK_LANGUAGE_NAMES.get(language, language)
    try:
        return frozenset(stopwords.words(name))
    except (LookupError, OSError) as err:
        # A LookupError means the corpus is absent; an OSError a missing language file in it.
        absent = isinstance(err, LookupError)
        what = "NLTK data (corpora/stopwords) is absent" if absent else f"NLTK has no stop list {name!r}"
        raise ResourceMissingError(
            f"stopwords: {what}. NLTK's downloader needs the internet, which this machine may not "
            f"reach; use source: spacy or gensim (installed with their packages), or source: file."
        ) from None


def _file_words(path: str) -> frozenset[str]:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ResourceMissingError(f"stopwords: stop-word file not found: {path}") from None
    except OSError as err:
        raise ResourceMissingError(f"stopwords: cannot read stop-word file {path}: {err.strerror}") from None
    words = set()
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(f"{path}:{lineno}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
        text = text.split("#", 1)[0].strip().lstrip("\ufeff")
        if not text:
            continue
        if len(text.split()) != 1:
            # A multi-word entry could never match a single token; it is almost always a typo.
            raise InputError(f"{path}:{lineno}: expected one word per line, got {text!r}")
        words.add(text)
    return frozenset(words)


@lru_cache(maxsize=64)
def _cached_set(
    source: Source, language: str, path: str | None, add: tuple[str, ...], remove: tuple[str, ...],
    preset: Preset, case_sensitive: bool,
) -> frozenset[str]:
    if source == "spacy":
        words = _spacy_words(language)
    elif source == "gensim":
        words = _gensim_words(language)
    elif source == "nltk":
        words = _nltk_words(language)
    elif source == "file":
        if not path:
            raise ConfigError("stopwords: source 'file' needs a path")
        words = _file_words(path)
    elif source == "none":
        words = frozenset()
    else:
        raise ConfigError(f"stopwords: unknown source {source!r}; valid: file, gensim, nltk, none, spacy")
    fold = str if case_sensitive else str.lower
    stop = {fold(w) for w in words}
    if preset == "sentiment":
        stop -= {fold(w) for w in _NEGATIONS_ALL}
    # Explicit user choices win over the preset: add after it, remove last.
    stop |= {fold(w) for w in add}
    stop -= {fold(w) for w in remove}
    return frozenset(stop)


def stopword_set(
    source: Source = "spacy", language: str = "en", path: str | None = None, add: Iterable[str] = (),
    remove: Iterable[str] = (), preset: Preset = "none", case_sensitive: bool = False,
) -> frozenset[str]:
    """The stop list for these settings (lower-cased unless `case_sensitive`), built once and cached."""
    return _cached_set(source, language, path, tuple(add), tuple(remove), preset, case_sensitive)


@lru_cache(maxsize=1 << 16)
def is_punctuation(text: str) -> bool:
    """True when `text` is non-empty and made only of Unicode punctuation (P*) and symbols (S*)."""
    return bool(text) and all(unicodedata.category(c)[0] in "PS" for c in text)


@register_stage("stopwords")
class StopWords(TokenStage):
    """Drop stop words (and optionally punctuation-only tokens); kept tokens are unchanged."""

    source: Source = "spacy"  # where the list comes from; "none" keeps only add/drop_punctuation
    path: str | None = None  # source: file -> UTF-8, one word per line, '#' starts a comment
    language: str = "en"  # spaCy code; NLTK also accepts its names ("english")
    add: list[str] = []
    remove: list[str] = []
    preset: Preset = "none"  # sentiment: keep negations (not, no, never, n't, ...)
    case_sensitive: bool = False
    drop_punctuation: bool = False

    @model_validator(mode="after")
    def _check_path(self) -> "StopWords":
        if self.source == "file" and not self.path:
            raise ValueError("source 'file' needs a path")
        if self.source != "file" and self.path is not None:
            raise ValueError(f"path is only used with source 'file' (source is {self.source!r})")
        return self

    def stop_set(self) -> frozenset[str]:
        """This stage's stop list (cached per parameter set, so cheap to call per document)."""
        return _cached_set(
            self.source, self.language, self.path, tuple(self.add), tuple(self.remove), self.preset,
            self.case_sensitive,
        )

    def process(self, value: list[Token]) -> list[Token]:
        """Keep the tokens that are not stop words (nor punctuation, when asked)."""
        keep = _keep_memo(self.stop_set(), self.case_sensitive, self.drop_punctuation)
        return [t for t in value if keep[t[0]]]


@lru_cache(maxsize=64)
def _keep_memo(stop: frozenset[str], case_sensitive: bool, drop_punctuation: bool) -> Memo[bool]:
    """word -> whether StopWords keeps it. Keyed by the stop list itself, so a list that is rebuilt
    with other words (an edited file, a cleared cache) gets a memo of its own."""

    def keep(word: str) -> bool:
        if (word if case_sensitive else word.lower()) in stop:
            return False
        return not (drop_punctuation and is_punctuation(word))

    return Memo(keep)
