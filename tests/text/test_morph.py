"""The `stem` and `lemmatize` stages: known outputs, backends, missing resources, offsets, odd inputs."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.stem import SnowballStemmer

from textseq import resources
from textseq.errors import ConfigError, ResourceMissingError
from textseq.text import morph
from textseq.text.base import Token, stage_from_spec, whitespace_tokens
from textseq.text.morph import SNOWBALL_LANGUAGES, Lemmatize, Stem


def texts(tokens: list[Token]) -> list[str]:
    return [t.text for t in tokens]


def one(stage, word: str) -> str:
    (tok,) = stage(word)
    return tok.text


def wordnet_or_skip() -> None:
    try:
        morph.wordnet_reader()
    except ResourceMissingError as err:
        pytest.skip(f"WordNet data not installed here (apt-get install wordnet-base): {err}")


@pytest.fixture
def wordnet_dir(monkeypatch):
    """Point TEXTSEQ_WORDNET_DIR somewhere; caches are cleared before and after."""

    def use(path) -> None:
        monkeypatch.setenv("TEXTSEQ_WORDNET_DIR", str(path))
        morph.clear_caches()

    yield use
    monkeypatch.delenv("TEXTSEQ_WORDNET_DIR", raising=False)
    morph.clear_caches()


# ------------------------------------------------------------------------------------------ stem

@pytest.mark.parametrize("stage, word, stem", [
    (Stem(), "running", "run"),
    (Stem(), "cats", "cat"),
    (Stem(algorithm="lancaster"), "happiness", "happy"),  # porter: "happi"
    (Stem(algorithm="snowball", language="german"), "Katzen", "katz"),
    (Stem(algorithm="snowball", language="de"), "laufen", "lauf"),
    (Stem(algorithm="snowball", language="french"), "continuellement", "continuel"),
    (Stem(algorithm="snowball", language="fr"), "chanteuses", "chanteux"),
    (Stem(algorithm="snowball"), "because", "becaus"),
    (Stem(algorithm="snowball", ignore_stopwords=True), "because", "because"),  # in spaCy's stop list
    (Stem(ignore_stopwords=True), "running", "run"),
])
def test_stems(stage, word, stem):
    assert one(stage, word) == stem


@pytest.mark.parametrize("word", ["happiness", "maximum", "generously"])
def test_lancaster_differs_from_porter(word):
    assert one(Stem(algorithm="lancaster"), word) != one(Stem(), word)


def test_snowball_languages_match_nltk():
    assert set(SNOWBALL_LANGUAGES) == set(SnowballStemmer.languages)


@pytest.mark.parametrize("spec, listed", [
    ({"algorithm": "snowball", "language": "klingon"}, "german"),
    ({"algorithm": "porter", "language": "german"}, "snowball"),
    ({"algorithm": "lancaster", "language": "fr"}, "french"),
])
def test_invalid_language_lists_choices(spec, listed):
    with pytest.raises(ConfigError, match=listed) as err:
        stage_from_spec({"stage": "stem", **spec})
    assert spec["language"] in str(err.value)


# ------------------------------------------------------------------------------------- lemmatize

@pytest.mark.parametrize("word, lemma", [("was", "be"), ("mice", "mouse"), ("running", "run"),
                                         ("geese", "goose"), ("movie", "movie"), ("xyzzyq", "xyzzyq")])
def test_spacy_lookup(word, lemma):
    assert one(Lemmatize(), word) == lemma


@pytest.mark.parametrize("lowercase_lookup, lemma", [(False, "Was"), (True, "be")])
def test_lowercase_lookup(lowercase_lookup, lemma):
    assert one(Lemmatize(lowercase_lookup=lowercase_lookup), "Was") == lemma
    assert one(Lemmatize(lowercase_lookup=lowercase_lookup), "Xyzzyq") == "Xyzzyq"  # unknown: untouched


def test_lookup_offsets_preserved():
    text = " The mice  were\trunning home "
    tokens = whitespace_tokens(text)
    out = Lemmatize().process(tokens)
    assert texts(out) == ["The", "mouse", "be", "run", "home"]
    assert [(t.start, t.end) for t in out] == [(t.start, t.end) for t in tokens]


def test_lookup_missing_language():
    with pytest.raises(ResourceMissingError, match="spacy-lookups-data") as err:
        Lemmatize(language="xx")("a")
    assert "'xx'" in str(err.value) and "en" in str(err.value)


def test_lookup_other_language():
    assert one(Lemmatize(language="de"), "Katzen") == "Katze"


def test_spacy_pipeline_missing_model():
    with pytest.raises(ResourceMissingError) as err:
        Lemmatize(backend="spacy_pipeline", model="xx_missing_pipeline_sm")("mice")
    msg = str(err.value)
    assert "xx_missing_pipeline_sm" in msg and "spacy_lookup" in msg


@pytest.fixture
def fake_pipeline(monkeypatch):
    """A real spaCy pipeline with a (lookup-mode) lemmatizer, standing in for en_core_web_sm."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    monkeypatch.setattr(resources, "spacy_pipeline", lambda model: nlp)
    return Lemmatize(backend="spacy_pipeline", model="en_core_web_sm")


def test_spacy_pipeline_maps_lemmas_back(fake_pipeline):
    text = "The mice were  running,home"
    tokens = [Token("The", 0, 3), Token("mice", 4, 8), Token("were", 9, 13), Token("running", 15, 22),
              Token(",", 22, 23), Token("", 23, 23), Token("home", 23, 27)]
    out = fake_pipeline.process(tokens)
    assert texts(out) == ["The", "mouse", "be", "run", ",", "", "home"]
    assert [(t.start, t.end) for t in out] == [(t.start, t.end) for t in tokens]
    assert all(text[t.start:t.end] == t.text for t in tokens)
    batch = fake_pipeline.process_batch([tokens, [], whitespace_tokens("geese")])
    assert batch[0] == out and batch[1] == [] and texts(batch[2]) == ["goose"]


@pytest.mark.parametrize("spec, key", [
    ({"backend": "spacy_pipeline"}, "model"),
    ({"backend": "spacy_lookup", "model": "en_core_web_sm"}, "model"),
    ({"backend": "spacy_lookup", "pos": "v"}, "pos"),
    ({"backend": "wordnet", "language": "de"}, "English"),
    ({"backend": "wordnet", "pos": "x"}, "pos"),
    ({"backend": "treetagger"}, "backend"),
])
def test_lemmatize_bad_spec(spec, key):
    with pytest.raises(ConfigError, match=key):
        stage_from_spec({"stage": "lemmatize", **spec})


@pytest.mark.parametrize("pos, word, lemma", [
    ("n", "geese", "goose"), ("n", "dogs", "dog"), ("v", "running", "run"),
    ("auto", "was", "be"), ("auto", "mice", "mouse"), ("n", "xyzzyq", "xyzzyq"),
])
def test_wordnet(pos, word, lemma):
    wordnet_or_skip()
    assert one(Lemmatize(backend="wordnet", pos=pos), word) == lemma


@pytest.mark.parametrize("lowercase_lookup, lemma", [(False, "Geese"), (True, "goose")])
def test_wordnet_lowercase_lookup(lowercase_lookup, lemma):
    wordnet_or_skip()
    assert one(Lemmatize(backend="wordnet", lowercase_lookup=lowercase_lookup), "Geese") == lemma


def test_wordnet_missing_data(wordnet_dir, tmp_path):
    wordnet_dir(tmp_path)
    with pytest.raises(ResourceMissingError) as err:
        Lemmatize(backend="wordnet")("geese")
    msg = str(err.value)
    assert "WordNet data not found" in msg and "apt-get install wordnet-base" in msg
    assert "TEXTSEQ_WORDNET_DIR" in msg and str(tmp_path) in msg


def test_wordnet_incomplete_dir_names_missing_files(wordnet_dir, tmp_path):
    (tmp_path / "index.noun").write_text("", encoding="utf-8")
    wordnet_dir(tmp_path)
    with pytest.raises(ResourceMissingError, match="incomplete: missing index.verb"):
        Lemmatize(backend="wordnet")("geese")


def test_wordnet_from_tiny_dir_without_lexnames(wordnet_dir, tmp_path):
    # Debian's layout: no lexnames (nor index.sense); the reader must still load.
    for name in morph.WORDNET_FILES:
        (tmp_path / name).write_text("", encoding="utf-8")
    (tmp_path / "index.noun").write_text("goose n 1 0 1 0 01855672  \n", encoding="utf-8")
    (tmp_path / "noun.exc").write_text("geese goose\n", encoding="utf-8")
    wordnet_dir(tmp_path)
    assert texts(Lemmatize(backend="wordnet")("geese mice")) == ["goose", "mice"]


# ---------------------------------------------------------------------------------- every stage

STAGES = [
    Stem(),
    Stem(algorithm="lancaster"),
    Stem(algorithm="snowball", language="russian", ignore_stopwords=True),
    Lemmatize(),
    Lemmatize(language="de", lowercase_lookup=True),
    Lemmatize(backend="wordnet", pos="auto", lowercase_lookup=True),
]


def usable(stage):
    if getattr(stage, "backend", None) == "wordnet":
        wordnet_or_skip()
    return stage


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: str(s))
def test_odd_inputs(stage, odd_text):
    tokens = whitespace_tokens(odd_text)
    out = usable(stage).process(tokens)
    # rewrites keep every token and its offsets, in order
    assert [(t.start, t.end) for t in out] == [(t.start, t.end) for t in tokens]
    assert all(isinstance(t.text, str) for t in out)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: str(s))
@settings(max_examples=40, deadline=None)
@given(text=st.text())
def test_any_unicode(stage, text):
    tokens = whitespace_tokens(text)
    out = usable(stage)(text)
    assert [(t.start, t.end) for t in out] == [(t.start, t.end) for t in tokens]


@pytest.mark.parametrize("stage", STAGES + [Lemmatize(backend="spacy_pipeline", model="en_core_web_sm")],
                         ids=lambda s: str(s))
def test_spec_and_pickle_round_trip(stage):
    assert stage_from_spec(stage.spec()) == stage
    if getattr(stage, "backend", None) != "spacy_pipeline":
        out = usable(stage)("The mice were running")
        again = pickle.loads(pickle.dumps(stage))
        assert again == stage and again("The mice were running") == out


@pytest.mark.parametrize("name", ["stem", "lemmatize"])
def test_unknown_key_is_named(name):
    with pytest.raises(ConfigError, match="algoritm"):
        stage_from_spec({"stage": name, "algoritm": "porter"})
