"""Offset alignment: OffsetMap against per-character span lists, stage edits against the regex
rewrites they stand for, and pipelines in original-offset mode against a brute-force reference."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ODD_TEXTS
from textseq.resources import spacy_blank
from textseq.text.align import IDENTITY, identity_spans, spans_after, sub_edits
from textseq.text.base import TextStage, register_stage
from textseq.text.normalize import _SPACE_RUN, Whitespace, _space_repl
from textseq.text.patterns import Patterns, _replacer_for
from textseq.text.pipeline import Pipeline
from textseq.text.tokenize import _spacy_tokenizer

# NFKC expansions (ﬁ, ①), removals (NUL, ESC sequences, BOM), replacements (URLs, e-mails, numbers),
# contractions, case changes that grow (İ, ß), combining marks, emoji with joiners, odd spaces.
_interesting = st.sampled_from(
    ["a", "Z", "0", "7", " ", "  ", ".", ",", "-", "/", "@", "#", ":", "'", "\u2019", "n't", "don't", "I'm",
     "\t", "\r\n", "\n", "\x00", "\x1b[1m", "\ufeff", "\u00a0", "\u2028", "\u0301", "\u0130", "\u00df", "\u03a3",
     "\ufb01", "\u2460", "\uff21", "\u200d", "\U0001f468", "https://x.org/a", "www.b.com", "me@x.org",
     "2024-01-31", "3.50", "<url>"]
)
_texts = st.one_of(st.lists(_interesting, max_size=30).map("".join), st.text(max_size=40))


def reference_spans(stages, text: str) -> tuple[str, list[int], list[int]]:
    """Per-character spans through every stage: the representation OffsetMap replaces."""
    starts, ends = identity_spans(text)
    for stage in stages:
        text, starts, ends = stage.aligned(text, starts, ends)
    return text, starts, ends


def reference_tokens(pipeline: Pipeline, text: str) -> list[tuple[str, int, int]]:
    """Tokens of the normalized text, each mapped through span lists to [start of its first char,
    end of its last char), then the token stages."""
    normalized, starts, ends = reference_spans(pipeline.text_stages, text)
    n = len(normalized)
    mapped = []
    for word, s, e in pipeline.tokenizer.process(normalized):
        if s >= n:
            mapped.append((word, len(text), len(text)))
        elif e <= s:
            mapped.append((word, starts[s], starts[s]))
        else:
            mapped.append((word, starts[s], ends[min(e, n) - 1]))
    return [tuple(t) for t in pipeline._filter([mapped])[0]]


# --- OffsetMap against span lists ---

@st.composite
def edit_rounds(draw):
    """A text length and rounds of sorted, non-overlapping edits (a, b, n), each round applying to
    the text the previous rounds produced."""
    n = draw(st.integers(0, 30))
    rounds = []
    for _ in range(draw(st.integers(1, 4))):
        edits, pos, length = [], 0, n
        while pos <= n and draw(st.booleans()):
            a = draw(st.integers(pos, n))
            b = draw(st.integers(a, min(n, a + 5)))
            r = draw(st.integers(0 if b > a else 1, 4))
            edits.append((a, b, r))
            length += r - (b - a)
            pos = b + 1
        rounds.append((n, edits))
        n = length
    return rounds


@settings(max_examples=300, deadline=None)
@given(rounds=edit_rounds())
def test_offset_map_matches_span_lists(rounds):
    starts, ends = identity_spans("x" * rounds[0][0])
    omap = IDENTITY
    for n, edits in rounds:
        starts, ends = spans_after(edits, starts, ends)
        omap = omap.then(edits, n)
    assert [omap.start_of(i) for i in range(len(starts))] == starts
    assert [omap.end_of(i) for i in range(len(ends))] == ends
    if starts:
        s = np.arange(len(starts))
        e = np.minimum(s + 3, len(starts))
        assert omap.spans(s, e) == (starts, [ends[i - 1] for i in e])


def test_identity_map_without_edits():
    assert IDENTITY.then([], 10) is IDENTITY
    assert IDENTITY.spans(np.array([0, 4]), np.array([3, 9])) == ([0, 4], [3, 9])


def test_insertion_takes_a_zero_width_span():
    omap = IDENTITY.then([(2, 2, 3)], 5)  # "ab" + 3 inserted chars + "cde"
    assert [omap.start_of(i) for i in range(8)] == [0, 1, 2, 2, 2, 2, 3, 4]
    assert [omap.end_of(i) for i in range(8)] == [1, 2, 2, 2, 2, 3, 4, 5]


# --- edits against the rewrites they stand for ---

def test_sub_edits_skips_matches_replaced_by_themselves():
    out, edits = sub_edits(re.compile(r"\d+"), lambda m: m.group() if m.group() == "1" else "#", "a1b22c")
    assert (out, edits) == ("a1b#c", [(3, 5, 1)])


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=" \t\n\r\x85\u2028\x1ca.", max_size=12))
def test_whitespace_edits_match_the_regex_rewrite(text):
    assert Whitespace().rewrite(text) == sub_edits(_SPACE_RUN, _space_repl, text)


_ALL_REPLACED = Patterns(mentions="replace", hashtags="remove", dates="replace", numbers="replace")


@pytest.mark.parametrize("stage", [Patterns(), Patterns(dates="keep", numbers="keep"), _ALL_REPLACED])
@settings(max_examples=200, deadline=None)
@given(text=_texts)
def test_pattern_triggers_never_skip_a_match(stage, text):
    full = _replacer_for(stage.emails, stage.email_token, stage.urls, stage.url_token, stage.mentions,
                         stage.mention_token, stage.hashtags, stage.hashtag_token, stage.dates, stage.date_token,
                         stage.numbers, stage.number_token)
    assert stage.rewrite(text) == sub_edits(full.pattern, full.repl, text)


@pytest.mark.parametrize("text", ["HTTP://X.ORG/a", "WWW.X.ORG", "Www.x.org/b", "ftp://x.org", "me@x.org"])
def test_pattern_triggers_ignore_case_as_the_patterns_do(text):
    assert Patterns().process(text) in ("<url>", "<email>")


# --- whole pipelines in original-offset mode ---

_PIPELINES = {
    "default": Pipeline.default(),
    "everything": Pipeline.from_spec([
        {"stage": "control_chars"}, {"stage": "unicode", "form": "NFKC"}, {"stage": "contractions"},
        {"stage": "patterns", "mentions": "replace", "hashtags": "remove"}, {"stage": "case", "mode": "casefold"},
        {"stage": "strip_accents", "marks": "all"}, {"stage": "punctuation", "mode": "space"},
        {"stage": "whitespace", "keep_newlines": True}, {"stage": "regex_words"},
    ]),
    "characters": Pipeline.from_spec([{"stage": "unicode", "form": "NFKD"}, {"stage": "contractions"},
                                      {"stage": "characters"}]),
}


@pytest.mark.parametrize("name", sorted(_PIPELINES))
@settings(max_examples=150, deadline=None)
@given(text=_texts)
def test_pipeline_offsets_match_span_lists(name, text):
    pipeline = _PIPELINES[name]
    assert [tuple(t) for t in pipeline(text)] == reference_tokens(pipeline, text)


@pytest.mark.parametrize("name", sorted(_PIPELINES))
def test_pipeline_offsets_on_odd_inputs(name, odd_text):
    pipeline = _PIPELINES[name]
    assert [tuple(t) for t in pipeline(odd_text)] == reference_tokens(pipeline, odd_text)


@register_stage("_test_reverse")
class _Reverse(TextStage):
    """Reverses the text: a stage that overrides only `aligned`, with spans out of order."""

    def process(self, text: str) -> str:
        return text[::-1]

    def aligned(self, text, starts, ends):
        return text[::-1], starts[::-1], ends[::-1]


def test_a_stage_with_its_own_aligned_gets_span_lists():
    pipeline = Pipeline.from_spec([{"stage": "_test_reverse"}, {"stage": "whitespace"}, {"stage": "regex_words"}])
    assert not _Reverse.reports_edits() and Whitespace.reports_edits()
    text = "ab  cd, Don't"
    assert [tuple(t) for t in pipeline(text)] == reference_tokens(pipeline, text)
    assert pipeline.tokens(text) == ["t'noD", ",", "dc", "ba"]


# --- the spaCy tokenizer's slimmed vocabulary ---

@pytest.mark.parametrize("name", sorted(ODD_TEXTS))
def test_slim_spacy_vocabulary_splits_as_spacy_does(name):
    text = ODD_TEXTS[name] + " Don't e-mail me@x.org, it's 3.50$!"
    ours = [(t.idx, len(t), t.is_space) for t in _spacy_tokenizer("en", ())(text)]
    assert ours == [(t.idx, len(t), t.is_space) for t in spacy_blank("en").tokenizer(text)]
