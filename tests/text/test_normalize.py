"""Normalization stages: expected outputs, alignment invariants, odd inputs, properties, speed, specs."""

from __future__ import annotations

import pickle
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textseq.errors import ConfigError
from textseq.text.base import stage_from_spec
from textseq.text.normalize import (
    DEFAULT_NORMALIZERS,
    Case,
    Contractions,
    ControlChars,
    Patterns,
    Punctuation,
    StripAccents,
    Unicode,
    Whitespace,
    identity_spans,
)

# Every stage in its default form plus the variants whose code paths differ.
STAGES = [
    Unicode(), Unicode(form="NFKC"), Unicode(form="NFD"), Unicode(form="NFKD"),
    Case(), Case(mode="casefold"),
    StripAccents(), StripAccents(marks="all"),
    Contractions(), Contractions(mapping={"gonna": "going to"}, drop=["'d"]),
    Patterns(), Patterns(urls="remove", numbers="keep", mentions="replace", hashtags="replace"),
    Punctuation(), Punctuation(mode="space", keep="'"), Punctuation(symbols=False, keep_placeholders=False),
    ControlChars(), ControlChars(keep_joiners=False),
    Whitespace(), Whitespace(keep_newlines=True),
]
STAGE_IDS = [f"{s.name}:{','.join(f'{k}={v}' for k, v in s.model_dump().items() if v != type(s).model_fields[k].default)}" for s in STAGES]
# Stages where f(f(x)) == f(x) must hold on any input.
IDEMPOTENT = [s for s in STAGES if isinstance(s, (Unicode, Case, Whitespace, ControlChars, StripAccents))]


def run_aligned(stages, text: str):
    """Apply stages in aligned mode from identity spans."""
    starts, ends = identity_spans(text)
    for stage in stages:
        text, starts, ends = stage.aligned(text, starts, ends)
    return text, starts, ends


def check_alignment(stage, text: str) -> None:
    out, starts, ends = stage.aligned(text, *identity_spans(text))
    assert out == stage.process(text)
    assert len(starts) == len(ends) == len(out)
    assert all(0 <= s <= e <= len(text) for s, e in zip(starts, ends))
    # Every stage here keeps order, so spans never go backwards.
    assert all(a <= b for a, b in zip(starts, starts[1:]))
    assert all(a <= b for a, b in zip(ends, ends[1:]))


# --- expected outputs ---

@pytest.mark.parametrize(
    "stage, text, expected",
    [
        (Unicode(), "cafe\u0301", "caf\u00e9"),
        (Unicode(form="NFD"), "caf\u00e9", "cafe\u0301"),
        (Unicode(form="NFKC"), "\ufb01ne \uff21\uff22 x\u00b2 \u2460", "fine AB x2 1"),
        (Unicode(), "=\u0338", "\u2260"),  # an ASCII char composing with the mark after it
        (Case(), "Hello WORLD", "hello world"),
        (Case(), "\u0130stanbul", "i\u0307stanbul"),  # İ lowers to two chars
        (Case(), "\u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c2"),  # final sigma
        (Case(mode="casefold"), "Stra\u00dfe", "strasse"),
        (Case(mode="casefold"), "\u1e9e", "ss"),
        (StripAccents(), "caf\u00e9 na\u00efve", "cafe naive"),
        (StripAccents(), "Cr\u00e8me Br\u00fbl\u00e9e \u00c5ngstr\u00f6m", "Creme Brulee Angstrom"),
        (StripAccents(), "\u0391\u03b8\u03ae\u03bd\u03b1 \u0439", "\u0391\u03b8\u03b7\u03bd\u03b1 \u0438"),
        (StripAccents(), "\u0926\u093f\u0932\u094d\u0932\u0940", "\u0926\u093f\u0932\u094d\u0932\u0940"),  # Devanagari kept
        (StripAccents(), "\u304c\ud55c", "\u304c\ud55c"),  # Japanese voicing mark and Hangul kept
        (StripAccents(marks="all"), "\u0926\u093f\u0932\u094d\u0932\u0940", "\u0926\u093f\u0932\u0932\u0940"),
        (Contractions(), "I don't know", "I do not know"),
        (Contractions(), "Don't", "Do not"),
        (Contractions(), "DON'T STOP", "DO NOT STOP"),
        (Contractions(), "won't Won't can't Can't", "will not Will not cannot Cannot"),
        (Contractions(), "it\u2019s I\u2019m we\u2019re", "it is I am we are"),
        (Contractions(), "they'll we've she'd y'all", "they will we have she would you all"),
        (Contractions(), "John's car isn't", "John's car is not"),  # possessive 's untouched
        (Contractions(), "rock'n'roll don'tcha", "rock'n'roll don'tcha"),
        (Contractions(drop=["'d"]), "I'd go", "I'd go"),
        (Contractions(mapping={"can't": "can not", "'s": " is"}), "Can't, John's", "Can not, John is"),
        (Patterns(), "see https://example.com/a?b=1&c=2.", "see <url>."),
        (Patterns(), "www.example.org/x, mail me@example.org!", "<url>, mail <email>!"),
        (Patterns(), "on 2024-01-31 or 31/01/2024 or 01.31.2024", "on <date> or <date> or <date>"),
        (Patterns(), "January 31, 2024 and 31 Jan 2024", "<date> and <date>"),
        (Patterns(), "3 3.50 1,000 -2 1e5 50%", "<num> <num> <num> <num> <num> <num>"),
        (Patterns(), "$3.50! mp3 covid19 v1.2.3 5-2", "$<num>! mp3 covid19 v1.2.3 <num>-<num>"),
        (Patterns(), "https://x.com/2024-01-31/99", "<url>"),  # digits inside a URL stay in it
        (Patterns(), "@bob #great #1", "@bob #great #<num>"),
        (Patterns(mentions="replace", hashtags="remove"), "@bob #great me@x.org", "<user>  <email>"),
        (Patterns(urls="keep", numbers="replace"), "https://x.com/7 and 7", "https://x.com/7 and <num>"),
        (Patterns(dates="keep"), "2024-01-31 5", "2024-01-31 <num>"),
        (Patterns(numbers="remove", number_token="NUM"), "a 5 b", "a  b"),
        (Punctuation(), "Hello, world! (yes) \u201cquoted\u201d \u2014 $5 \u00a9", "Hello world yes quoted  5 "),
        (Punctuation(), "see <url>. <num>% <<b>>", "see <url> <num> <b>"),  # <b> looks like a placeholder
        (Punctuation(mode="space"), "a,b.c", "a b c"),
        (Punctuation(keep="'"), "it's, fine!", "it's fine"),
        (Punctuation(symbols=False), "a+b=$c!", "a+b=$c"),
        (Punctuation(keep_placeholders=False), "<url>", "url"),
        (Punctuation(), "I \u2764\ufe0f it \U0001f44d\U0001f3fd", "I  it "),  # emoji with its modifiers
        (ControlChars(), "a\x00b\ufeffc\u200bd\u00ade", "abcde"),
        (ControlChars(), "x\x1b[31mred\x1b[0m y", "xred y"),
        (ControlChars(), "l1\r\nl2\rl3\u2028l4\x85l5", "l1\nl2\nl3\nl4\nl5"),
        (ControlChars(), "a\tb\u00a0c\u3000d", "a b c d"),
        (ControlChars(), "\u202eevil\u202c \u200fx", "evil x"),
        (ControlChars(), "\U0001f468\u200d\U0001f469 a\u200db \u200c\u0641", "\U0001f468\u200d\U0001f469 ab \u0641"),
        (ControlChars(keep_joiners=False), "\U0001f468\u200d\U0001f469", "\U0001f468\U0001f469"),
        (Whitespace(), "  a \t\n b  ", "a b"),
        (Whitespace(keep_newlines=True), "  a \t b \n\n c  \n", "a b\nc"),
        (Whitespace(keep_newlines=True), "a\u2028b", "a\nb"),
    ],
)
def test_expected_output(stage, text, expected):
    assert stage.process(text) == expected
    assert stage(text) == expected
    assert stage.aligned(text, *identity_spans(text))[0] == expected


def test_default_normalizers():
    text = "\ufb01ne\u00a0\uff21\uff22\uff23\t\x00Caf\u00e9  \r\n"
    out = text
    for stage in DEFAULT_NORMALIZERS:
        out = stage.process(out)
    assert out == "fine abc caf\u00e9"
    assert [s.name for s in DEFAULT_NORMALIZERS] == ["unicode", "control_chars", "case", "whitespace"]


# --- alignment invariants on the shared odd inputs ---

@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_odd_inputs_aligned(stage, odd_text):
    check_alignment(stage, odd_text)


@pytest.mark.parametrize("stage", IDEMPOTENT, ids=[s.name for s in IDEMPOTENT])
def test_idempotent(stage, odd_text):
    once = stage.process(odd_text)
    assert stage.process(once) == once


@pytest.mark.parametrize(
    "text, expected",
    [
        # (token in final text, original substring it maps to)
        ("Don't visit https://example.com/a?b=1 today!", [("do", "Don't"), ("not", "Don't"), ("visit", "visit"),
                                                           ("<url>", "https://example.com/a?b=1"), ("today", "today")]),
        ("\ufeffIt\u2019s   $3.50,\r\nCAF\u00c9\u0301!", [("it", "It\u2019s"), ("is", "It\u2019s"), ("<num>", "3.50"), ("cafe", "CAF\u00c9\u0301")]),
        ("\u0130stanbul on 31 Jan 2024", [("istanbul", "\u0130stanbul"), ("on", "on"), ("<date>", "31 Jan 2024")]),
    ],
)
def test_alignment_round_trip(text, expected):
    pipeline = [ControlChars(), Unicode(form="NFKC"), Contractions(), Patterns(), Case(), StripAccents(marks="all"),
                Punctuation(), Whitespace()]
    out, starts, ends = run_aligned(pipeline, text)
    tokens = [(m.group(), text[starts[m.start()]:ends[m.end() - 1]]) for m in re.finditer(r"\S+", out)]
    assert tokens == expected


def test_aligned_does_not_mutate_inputs():
    text = "Don't  stop"
    starts, ends = identity_spans(text)
    Contractions().aligned(text, starts, ends)
    Whitespace().aligned(text, starts, ends)
    assert (starts, ends) == identity_spans(text)


# --- properties ---

_interesting = st.sampled_from(list("aZ09 .,-/@#:%'\u2019ntdlsv\t\r\n<>\u0301\u0130\u00df\u03a3\u200d\u200c\ufeff\x1b[m\u00a0\u2028"))
_texts = st.one_of(st.text(), st.text(alphabet=_interesting, max_size=60), st.text(alphabet=st.characters(codec="ascii")))


@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
@settings(max_examples=200, deadline=None)
@given(text=_texts)
def test_property_aligned_matches_process(stage, text):
    check_alignment(stage, text)
    if stage in IDEMPOTENT:
        once = stage.process(text)
        assert stage.process(once) == once


@settings(max_examples=200, deadline=None)
@given(text=_texts)
def test_property_composed_pipeline(text):
    stages = [ControlChars(), Unicode(form="NFKC"), Contractions(), Patterns(), Case(), StripAccents(), Punctuation(), Whitespace()]
    out, starts, ends = run_aligned(stages, text)
    expected = text
    for stage in stages:
        expected = stage.process(expected)
    assert out == expected
    assert all(0 <= s <= e <= len(text) for s, e in zip(starts, ends))


# --- scale ---

@pytest.mark.slow
def test_twenty_megabytes_single_line():
    unit = "Don't visit https://example.com/a?b=1 \u2014 caf\u00e9 na\u00efve, it's $3.50 on 2024-01-31! \uff26 1,000 x\u00a0y\t\U0001f600 "
    big = (unit * (20_000_000 // len(unit) + 1))[:20_000_000]
    for stage in STAGES:
        start = time.perf_counter()
        stage.process(big)
        assert time.perf_counter() - start < 30, stage  # generous: a shared 2-core machine; ~0.1-4 s each
    small = big[:200_000]
    for stage in STAGES:  # aligned mode is linear too (quadratic behaviour would take minutes here)
        check_alignment(stage, small)


# --- specs ---

@pytest.mark.parametrize("stage", STAGES, ids=STAGE_IDS)
def test_spec_round_trip(stage):
    spec = stage.spec()
    assert spec["stage"] == stage.name
    assert stage_from_spec(spec) == stage
    assert pickle.loads(pickle.dumps(stage)) == stage


@pytest.mark.parametrize("name", ["unicode", "case", "strip_accents", "contractions", "patterns", "punctuation", "control_chars", "whitespace"])
def test_unknown_key_is_named(name):
    with pytest.raises(ConfigError, match="colour"):
        stage_from_spec({"stage": name, "colour": "blue"})


@pytest.mark.parametrize(
    "spec, key",
    [
        ({"stage": "case", "mode": "upper"}, "mode"),
        ({"stage": "unicode", "form": "nfc"}, "form"),
        ({"stage": "patterns", "urls": "mask"}, "urls"),
        ({"stage": "contractions", "drop": ["dont"]}, "dont"),
    ],
)
def test_bad_value_is_named(spec, key):
    with pytest.raises(ConfigError, match=key):
        stage_from_spec(spec)
