"""The `stopwords` stage: sources, the sentiment preset, user files, errors, offsets, odd inputs."""

from __future__ import annotations

import pickle

import nltk.corpus
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textseq.errors import ConfigError, InputError, ResourceMissingError
from textseq.resources import spacy_blank
from textseq.text.base import Token, stage_from_spec, whitespace_tokens
from textseq.text.stopwords import NEGATIONS, StopWords, _cached_set, is_punctuation, stopword_set


def texts(tokens: list[Token]) -> list[str]:
    return [t.text for t in tokens]


def spacy_tokens(text: str) -> list[Token]:
    # spaCy's tokenizer is what splits "don't" into "do" + "n't"; the preset must cope with that.
    return [Token(t.text, t.idx, t.idx + len(t)) for t in spacy_blank("en")(text)]


def is_ordered_subset(out: list[Token], inp: list[Token]) -> bool:
    kept = {(t.start, t.end) for t in out}
    return [(t.start, t.end) for t in inp if (t.start, t.end) in kept] == [(t.start, t.end) for t in out]


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Tests monkeypatch NLTK and write files; a list cached by another test must not leak in.
    _cached_set.cache_clear()
    yield
    _cached_set.cache_clear()


@pytest.mark.parametrize("source", ["spacy", "gensim"])
@pytest.mark.parametrize("case_sensitive", [False, True])
def test_builtin_lists_drop_the_keep_movie(source, case_sensitive):
    out = texts(StopWords(source=source, case_sensitive=case_sensitive)("the movie was the best"))
    assert "movie" in out and "best" in out
    assert "the" not in out


@pytest.mark.parametrize("case_sensitive, kept", [(False, False), (True, True)])
def test_case_sensitivity(case_sensitive, kept):
    out = texts(StopWords(case_sensitive=case_sensitive)("The movie"))
    assert ("The" in out) is kept


NEGATED = ("not", "no", "never", "nor", "nothing", "cannot", "without")
NEGATION_CASES = [(source, word) for source in ("spacy", "gensim") for word in NEGATED]


@pytest.mark.parametrize("source, word", NEGATION_CASES + [("spacy", "n't"), ("spacy", "n’t")])
def test_sentiment_preset_keeps_negations(source, word):
    assert word in stopword_set(source)  # the plain list drops it, so the preset has work to do...
    tokens = whitespace_tokens(f"the movie is {word} good")
    out = texts(StopWords(source=source, preset="sentiment").process(tokens))
    assert word in out  # ...and the preset keeps it
    assert "the" not in out


def test_sentiment_preset_on_spacy_contraction():
    tokens = spacy_tokens("I don't like the movie")
    assert "n't" in texts(tokens)
    out = texts(StopWords(preset="sentiment").process(tokens))
    assert "n't" in out and "the" not in out
    assert "n't" not in texts(StopWords().process(tokens))


def test_add_and_remove():
    stage = StopWords(add=["Movie"], remove=["THE"])
    assert texts(stage("the movie is good")) == ["the", "good"]
    # explicit choices win over the preset: re-adding a negation drops it again
    assert texts(StopWords(preset="sentiment", add=["not"])("not good")) == ["good"]


def test_source_none_only_uses_add_and_punctuation():
    stage = StopWords(source="none", add=["foo"], drop_punctuation=True)
    assert texts(stage("the foo , bar !!")) == ["the", "bar"]


@pytest.mark.parametrize("text, punct", [
    ("!!", True), ("...", True), ("$", True), ("«»", True), ("\U0001f44d", True),
    ("a.b", False), ("3.50", False), ("", False), ("n't", False),
])
def test_is_punctuation(text, punct):
    assert is_punctuation(text) is punct


def test_drop_punctuation_default_off():
    assert texts(StopWords(source="none")("hi , !")) == ["hi", ",", "!"]
    assert texts(StopWords(source="none", drop_punctuation=True)("hi , !")) == ["hi"]


def test_user_file_with_comments(tmp_path):
    path = tmp_path / "stop.txt"
    path.write_text("\ufeff# my list\nfoo\n  Bar   # trailing comment\n\n#baz\nqux\n", encoding="utf-8")
    assert stopword_set("file", path=str(path)) == {"foo", "bar", "qux"}
    stage = StopWords(source="file", path=str(path))
    assert texts(stage("foo BAR baz qux movie")) == ["baz", "movie"]


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope" / "stop.txt"
    with pytest.raises(ResourceMissingError, match="nope/stop.txt"):
        StopWords(source="file", path=str(path))("a b")


@pytest.mark.parametrize("content, line", [(b"ok\n\xff\xfe\n", 2), (b"ok\n# c\ntwo words\n", 3)])
def test_bad_file_names_file_and_line(tmp_path, content, line):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(InputError, match=f"bad.txt:{line}:"):
        stopword_set("file", path=str(path))


@pytest.mark.parametrize("spec", [{"source": "file"}, {"source": "spacy", "path": "x.txt"}])
def test_path_and_source_must_agree(spec):
    with pytest.raises(ConfigError, match="path"):
        stage_from_spec({"stage": "stopwords", **spec})


class _NoNltkData:
    def words(self, name):
        raise LookupError("Resource stopwords not found.")


class _FakeNltkData:
    def words(self, name):
        assert name == "english"  # the ISO code was mapped to NLTK's name
        return ["the", "a"]


def test_nltk_missing_data_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(nltk.corpus, "stopwords", _NoNltkData())
    with pytest.raises(ResourceMissingError) as err:
        StopWords(source="nltk")("the movie")
    msg = str(err.value)
    assert "NLTK data" in msg and "internet" in msg
    assert "source: spacy" in msg and "gensim" in msg and "file" in msg


def test_nltk_list_used_when_present(monkeypatch):
    monkeypatch.setattr(nltk.corpus, "stopwords", _FakeNltkData())
    assert texts(StopWords(source="nltk")("the movie was")) == ["movie", "was"]


@pytest.mark.parametrize("spec, error", [
    ({"source": "spacy", "language": "xx-nope"}, ResourceMissingError),
    ({"source": "gensim", "language": "de"}, ConfigError),
])
def test_bad_language(spec, error):
    with pytest.raises(error, match="nope|English only"):
        stage_from_spec({"stage": "stopwords", **spec})("a")


def test_offsets_preserved():
    text = "  the  movie   was\tnot   good "
    tokens = whitespace_tokens(text)
    out = StopWords(preset="sentiment").process(tokens)
    assert out == [t for t in tokens if t.text in ("movie", "not", "good")]
    assert all(text[t.start:t.end] == t.text for t in out)


def test_negation_list_covers_the_brief():
    assert {"not", "no", "nor", "never", "n't", "neither", "nobody", "none", "nothing", "nowhere",
            "cannot", "without", "against"} <= NEGATIONS


STAGES = [
    StopWords(),
    StopWords(source="gensim", preset="sentiment", drop_punctuation=True),
    StopWords(source="none", add=["a"], case_sensitive=True),
]


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: str(s))
def test_odd_inputs(stage, odd_text):
    tokens = whitespace_tokens(odd_text)
    out = stage.process(tokens)
    assert is_ordered_subset(out, tokens)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: str(s))
@settings(max_examples=40, deadline=None)
@given(text=st.text())
def test_any_unicode(stage, text):
    tokens = whitespace_tokens(text)
    out = stage(text)
    assert is_ordered_subset(out, tokens)
    assert set(out) <= set(tokens)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: str(s))
def test_spec_and_pickle_round_trip(stage):
    assert stage_from_spec(stage.spec()) == stage
    out = stage("the movie , not bad")
    again = pickle.loads(pickle.dumps(stage))
    assert again == stage and again("the movie , not bad") == out


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match="stopwrods"):
        stage_from_spec({"stage": "stopwords", "stopwrods": ["x"]})
