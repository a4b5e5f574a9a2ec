"""Tokenizer stages: exact outputs, valid spans on odd and arbitrary Unicode text, specs, pickling."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ODD_TEXTS
from textseq.errors import ConfigError, ResourceMissingError
from textseq.text.base import Token, stage_from_spec
from textseq.text.tokenize import (
    Characters,
    NltkTreebank,
    NltkTweet,
    PunktSentences,
    RegexWords,
    SpacySentences,
    SpacyWords,
)

WORDS = [
    SpacyWords(),
    NltkTreebank(),
    NltkTreebank(ptb_quotes=False),
    NltkTweet(),
    NltkTweet(preserve_case=False, reduce_len=True, strip_handles=True),
    RegexWords(),
]
SENTENCES = [SpacySentences(), PunktSentences()]
CHARS = [Characters(), Characters(unit="grapheme"), Characters(keep_whitespace=False), Characters(unit="grapheme", keep_whitespace=False)]
ALL = WORDS + SENTENCES + CHARS
# Stages whose token text is always exactly the text under its span.
VERBATIM = [SpacyWords(), NltkTreebank(ptb_quotes=False), RegexWords(), *SENTENCES, *CHARS]


def _id(stage) -> str:
    params = ",".join(f"{k}={v}" for k, v in stage.model_dump().items())
    return f"{stage.name}({params})"


def assert_spans_valid(text: str, tokens: list[Token]) -> None:
    """In bounds, non-overlapping, in order."""
    prev_end = 0
    for tok in tokens:
        assert isinstance(tok, Token)
        assert prev_end <= tok.start <= tok.end <= len(text), (tok, prev_end, len(text))
        prev_end = tok.end


def texts(tokens: list[Token]) -> list[str]:
    return [t.text for t in tokens]


# -- exact outputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stage, text, expected",
    [
        (SpacyWords(), "Hello, world! It's 5 p.m. in  New York.",
         ["Hello", ",", "world", "!", "It", "'s", "5", "p.m.", "in", "New", "York", "."]),
        (SpacyWords(), "Don't stop\n\nbelieving :-)", ["Do", "n't", "stop", "believing", ":-)"]),
        (NltkTreebank(), 'She said "no," and didn\'t leave.',
         ["She", "said", "``", "no", ",", "''", "and", "did", "n't", "leave", "."]),
        (NltkTreebank(ptb_quotes=False), 'She said "no."', ["She", "said", '"', "no", ".", '"']),
        (NltkTweet(), "@user I loooooove this!!! :-) #nlp",
         ["@user", "I", "loooooove", "this", "!", "!", "!", ":-)", "#nlp"]),
        (NltkTweet(preserve_case=False, reduce_len=True, strip_handles=True), "@user I LOOOOOVE this :D #NLP",
         ["i", "looove", "this", ":D", "#nlp"]),
        (RegexWords(), "It's a cafe\u0301\u2014really! Don\u2019t (7.5%)",
         ["It's", "a", "cafe\u0301", "\u2014", "really", "!", "Don\u2019t", "(", "7", ".", "5", "%", ")"]),
        (RegexWords(pattern=r"\p{L}+"), "ab1cd ef", ["ab", "cd", "ef"]),
        (SpacySentences(), "This is one. This is two!  Is this three? Yes",
         ["This is one.", "This is two!", "Is this three?", "Yes"]),
        (PunktSentences(), "Dr. Smith went to Washington. He arrived at 5 p.m. on Jan. 3.",
         ["Dr. Smith went to Washington.", "He arrived at 5 p.m. on Jan. 3."]),
        (PunktSentences(), "  It rained.\n\nWe stayed in. ", ["It rained.", "We stayed in."]),
        (Characters(), "e\u0301\U0001f44d\U0001f3fd a", ["e", "\u0301", "\U0001f44d", "\U0001f3fd", " ", "a"]),
        (Characters(unit="grapheme"), "e\u0301\U0001f44d\U0001f3fd \U0001f1ef\U0001f1f5\r\n",
         ["e\u0301", "\U0001f44d\U0001f3fd", " ", "\U0001f1ef\U0001f1f5", "\r\n"]),
        (Characters(unit="grapheme"), "\U0001f468\u200d\U0001f469\u200d\U0001f467!", ["\U0001f468\u200d\U0001f469\u200d\U0001f467", "!"]),
        (Characters(keep_whitespace=False), "a b\nc", ["a", "b", "c"]),
    ],
    ids=lambda v: v.name if hasattr(v, "name") else None,
)
def test_exact_tokens(stage, text, expected):
    tokens = stage.process(text)
    assert texts(tokens) == expected
    assert_spans_valid(text, tokens)


def test_treebank_quote_spans_cover_the_original_quotes():
    text = "He said \"hi\" and ''ok'' then ``yes``."
    toks = NltkTreebank().process(text)
    quotes = [(t.text, text[t.start:t.end]) for t in toks if t.text in ("``", "''")]
    assert quotes == [("``", '"'), ("''", '"'), ("``", "''"), ("''", "''"), ("``", "``"), ("``", "``")]
    assert all(text[t.start:t.end] == t.text for t in toks if t.text not in ("``", "''"))


def test_tweet_spans_cover_rewritten_sources():
    text = "@bob this &amp; THAT waaaaay \u0130stanbul"
    toks = NltkTweet(preserve_case=False, reduce_len=True, strip_handles=True).process(text)
    assert [(t.text, text[t.start:t.end]) for t in toks] == [
        ("this", "this"), ("&", "&amp;"), ("that", "THAT"), ("waaay", "waaaaay"), ("i\u0307stanbul", "\u0130stanbul")
    ]


def test_sentence_spans_index_the_text():
    text = "First one here.  Second one there! Third?"
    for stage in SENTENCES:
        toks = stage.process(text)
        assert [text[t.start:t.end] for t in toks] == ["First one here.", "Second one there!", "Third?"]


# -- odd inputs and arbitrary Unicode ------------------------------------------------------------


@pytest.mark.parametrize("stage", ALL, ids=_id)
def test_survives_odd_text(stage, odd_text):
    tokens = stage.process(odd_text)
    assert_spans_valid(odd_text, tokens)
    if stage not in CHARS:
        assert all(t.text.strip() for t in tokens), "whitespace-only token"
    if stage in VERBATIM:
        assert all(odd_text[t.start:t.end] == t.text for t in tokens)


@pytest.mark.parametrize("unit", ["char", "grapheme"])
def test_characters_reconstruct_text(unit, odd_text):
    assert "".join(texts(Characters(unit=unit).process(odd_text))) == odd_text


@pytest.mark.parametrize("stage", ALL, ids=_id)
@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=60))
def test_spans_valid_on_any_unicode(stage, text):
    tokens = stage.process(text)
    assert_spans_valid(text, tokens)
    if stage in VERBATIM:
        assert all(text[t.start:t.end] == t.text for t in tokens)


@settings(max_examples=40, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("aA\"'` .,!?-&;#@:)(\n\u0130")), max_size=40))
def test_treebank_and_tweet_on_quote_heavy_text(text):
    """Quotes, entities and handles are what force these two to realign; hammer them."""
    for stage in WORDS[1:5]:
        assert_spans_valid(text, stage.process(text))


# -- batches, specs, pickling, errors ----------------------------------------------------------


@pytest.mark.parametrize("stage", ALL, ids=_id)
def test_process_batch_equals_process(stage):
    docs = list(ODD_TEXTS.values()) + ["A sentence. Another one!", "Dr. Who? Yes."]
    assert stage.process_batch(docs) == [stage.process(d) for d in docs]


@pytest.mark.parametrize("stage", ALL + [RegexWords(pattern=r"\S+"), SpacyWords(lang="de"), PunktSentences(language="german")], ids=_id)
def test_spec_round_trip_and_pickle_after_use(stage):
    assert stage_from_spec(stage.spec()) == stage
    before = stage.process("Hello there. How are you?")
    clone = pickle.loads(pickle.dumps(stage))
    assert clone == stage
    assert clone.process("Hello there. How are you?") == before


def test_bad_regex_is_a_config_error():
    with pytest.raises(ConfigError, match="invalid regular expression"):
        RegexWords(pattern="(unclosed")
    with pytest.raises(ConfigError, match="pattern"):
        stage_from_spec({"stage": "regex_words", "pattern": "[a-"})


def test_punkt_unknown_language_needs_a_corpus():
    with pytest.raises(ResourceMissingError, match="train_on"):
        PunktSentences(language="klingon").process("Qapla'. Heghlu'meH QaQ jajvam.")


def test_punkt_missing_training_file(tmp_path):
    with pytest.raises(ResourceMissingError, match="does not exist"):
        PunktSentences(train_on=str(tmp_path / "nope.txt")).process("A. B.")


def test_punkt_trains_on_a_corpus(tmp_path):
    import random

    rng = random.Random(0)
    subjects = ["Prof. Jones", "The committee", "Dr. Alvarez", "Our neighbour", "Gen. Patton", "The old librarian"]
    verbs = ["visited the museum", "wrote a long letter", "read the report", "walked to the station"]
    tails = ["on Monday", "in the morning", "with great care", "before lunch", "after the meeting"]
    corpus = " ".join(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(tails)}." for _ in range(400))
    path = tmp_path / "corpus.txt"
    path.write_text(corpus, encoding="utf-8")
    stage = PunktSentences(language="klingon", train_on=str(path))  # a trained corpus needs no bundled language
    text = "Prof. Jones read the report. Gen. Patton walked to the station. It rained."
    assert texts(stage.process(text)) == ["Prof. Jones read the report.", "Gen. Patton walked to the station.", "It rained."]


@pytest.mark.parametrize("text, expected", [
    ("a <num>-minute film", ["a", "<num>", "-minute", "film"]),
    ("k-<num> x<url>y", ["k-", "<num>", "x", "<url>", "y"]),
    ("(<url>)! <email>.", ["(", "<url>", ")", "!", "<email>", "."]),
    ("<date>,<num>", ["<date>", ",", "<num>"]),
])
def test_spacy_words_keeps_placeholders_whole(text, expected):
    from textseq.text.base import stage_from_spec

    toks = stage_from_spec({"stage": "spacy_words"})(text)
    assert [t.text for t in toks] == expected
    assert all(text[t.start:t.end] == t.text for t in toks)


def test_spacy_words_without_placeholders_is_plain_spacy():
    from textseq.resources import spacy_blank
    from textseq.text.base import stage_from_spec

    text = "x<url>y don't"
    toks = stage_from_spec({"stage": "spacy_words", "keep_whole": []})(text)
    assert [t.text for t in toks] == [t.text for t in spacy_blank("en").tokenizer(text)]
