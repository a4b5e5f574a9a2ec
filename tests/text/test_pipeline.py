"""The pipeline: type-checking, specs, offsets, streaming, processes, long documents, datasets."""

from __future__ import annotations

import json

import pytest

from textseq.errors import ConfigError
from textseq.text import pipeline as pipeline_mod
from textseq.text.base import Token
from textseq.text.pipeline import Pipeline

SAMPLE = "The mice weren't running at https://example.com/x!  Visit me@x.org. Don't stop"


@pytest.fixture(scope="module")
def default() -> Pipeline:
    return Pipeline.default()


def test_default_pipeline_output_and_offsets(default):
    toks = default(SAMPLE)
    assert [t.text for t in toks] == ["mouse", "run", "<url>", "visit", "<email>", "stop"]
    # Offsets index the original text, before lower-casing and placeholder replacement.
    assert [SAMPLE[t.start:t.end] for t in toks] == ["mice", "running", "https://example.com/x", "Visit",
                                                     "me@x.org", "stop"]


def test_sentiment_pipeline_keeps_negations():
    p = Pipeline.load("configs/preprocess/sentiment.yaml")
    toks = p(SAMPLE)
    texts = [t.text for t in toks]
    assert texts.count("not") == 2 and "the" not in texts
    # "not" came from expanding "weren't": its span is the whole contraction.
    first_not = next(t for t in toks if t.text == "not")
    assert SAMPLE[first_not.start:first_not.end] == "weren't"


def test_sentiment_lm_pipeline_keeps_every_word_and_its_form():
    p = Pipeline.load("configs/preprocess/sentiment_lm.yaml")
    toks = p(SAMPLE)
    texts = [t.text for t in toks]
    # The sentiment pipeline's normalisation (lower case, contractions, placeholders) ...
    assert texts[:6] == ["the", "mice", "were", "not", "running", "at"]
    assert "<url>" in texts and "<email>" in texts and texts[-3:] == ["do", "not", "stop"]
    # ... but no word is dropped and none is lemmatised: every word of the original is a token.
    assert texts.count("!") == 1 and "visit" in texts and "mouse" not in texts
    assert [SAMPLE[t.start:t.end] for t in toks][:5] == ["The", "mice", "weren't", "weren't", "running"]


def test_normalized_offsets_option():
    spec = Pipeline.default().spec() | {"offsets": "normalized"}
    p = Pipeline.from_spec(spec)
    norm = p.stages[0]("x")  # sanity: stages still usable alone
    assert norm == "x"
    toks = p("HELLO World")
    assert [(t.text, t.start, t.end) for t in toks] == [("hello", 0, 5), ("world", 6, 11)]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_spec_round_trip_identical_output(tmp_path, default, suffix):
    path = default.save(tmp_path / f"p{suffix}")
    again = Pipeline.load(path)
    assert again == default and again.fingerprint() == default.fingerprint()
    docs = [SAMPLE, "Another review: it wasn't bad at all!!", ""]
    assert again.run_batch(docs) == default.run_batch(docs)


def test_fingerprint_changes_with_parameters(default):
    spec = default.spec()
    spec["stages"][3] = {"stage": "case", "mode": "casefold"}
    assert Pipeline.from_spec(spec).fingerprint() != default.fingerprint()


@pytest.mark.parametrize(
    "stages, fragment",
    [
        ([{"stage": "lowercas"}], "unknown stage 'lowercas'"),
        ([{"stage": "case", "mode": "upper"}], "stages[0] (case): mode"),
        ([{"stage": "case", "colour": "red"}], "colour: unknown key; valid keys here: mode"),
        ([{"stage": "stopwords"}], "stages[0] (stopwords) consumes tokens but receives text"),
        ([{"stage": "spacy_words"}, {"stage": "regex_words"}], "consumes text but receives tokens"),
        ([{"stage": "spacy_words"}, {"stage": "case"}], "stages[1] (case) consumes text but receives tokens"),
        ([], "stages"),
        (["case"], "stages.0: Input should be a valid dictionary"),
    ],
)
def test_invalid_specs_name_the_fault(stages, fragment):
    with pytest.raises(ConfigError) as err:
        Pipeline.from_spec({"stages": stages}, where="my.yaml")
    assert fragment in str(err.value)
    assert "my.yaml" in str(err.value)


def test_unknown_stage_lists_choices():
    with pytest.raises(ConfigError, match=r"did you mean 'lemmatize'.*valid: .*spacy_words"):
        Pipeline.from_spec([{"stage": "lemmatise"}])


def test_unknown_top_level_key():
    with pytest.raises(ConfigError, match="stagse: unknown key"):
        Pipeline.from_spec({"stagse": [], "stages": [{"stage": "case"}]})


def test_text_only_pipeline_returns_text():
    p = Pipeline.from_spec([{"stage": "case"}, {"stage": "whitespace"}])
    assert p("  A  B ") == "a b"
    assert p.produces == "text"


def test_stream_is_lazy_and_ordered(default):
    consumed = 0

    def docs():
        nonlocal consumed
        for i in range(2000):
            consumed += 1
            yield f"review {i} was not bad"

    out = default.stream(docs(), batch_size=50)
    first = next(out)
    assert [t.text for t in first] == ["review", "0", "bad"]
    assert consumed <= 50  # one batch read, not the whole input
    rest = list(out)
    assert len(rest) == 1999 and [t.text for t in rest[-1]][1] == "1999"


def test_stream_with_processes_matches_serial(default):
    docs = [f"Document {i}: the movies weren't {'good' if i % 2 else 'bad'} at all" for i in range(300)]
    assert list(default.stream(docs, batch_size=16, n_proc=2)) == list(default.stream(docs, batch_size=16))


def test_process_window_bounds_memory(default, monkeypatch):
    consumed = 0

    def docs():
        nonlocal consumed
        for i in range(10_000):
            consumed += 1
            yield "x"

    stream = default.stream(docs(), batch_size=10, n_proc=2)
    next(stream)
    # At most 2 * n_proc batches are in flight (plus the one being submitted).
    assert consumed <= 10 * (2 * 2 + 1)
    stream.close()


def test_long_documents_are_chunked_without_changing_tokens(default, monkeypatch):
    text = ("The cats were sitting quietly.\n" * 40) + ("word " * 300)
    whole = default(text)
    monkeypatch.setattr(pipeline_mod, "CHUNK_CHARS", 97)
    chunked = default(text)
    assert chunked == whole


def test_split_long_text_covers_everything():
    text = "abc def\nghi " * 1000 + "x" * 5000
    pieces = list(pipeline_mod.split_long_text(text, 700))
    assert "".join(p for _, p in pieces) == text
    assert all(len(p) <= 700 for _, p in pieces)
    assert [off for off, _ in pieces] == [sum(len(p) for _, p in pieces[:i]) for i in range(len(pieces))]


def test_single_huge_line_runs(default):
    text = "spam and eggs " * 400_000  # 5.6 MB, one line
    toks = default(text)
    assert len(toks) == 800_000  # "and" is a stop word
    assert toks[-1].end == len(text) - 1 and text[toks[-1].start:toks[-1].end] == "eggs"


def test_map_dataset_matches_pipeline_and_caches(tmp_path, default):
    datasets = pytest.importorskip("datasets")
    from datasets.fingerprint import Hasher

    texts = [f"The {i} dogs weren't barking at https://x.org/{i}" for i in range(40)]
    ds = datasets.Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(40)]})
    mapped = default.map_dataset(ds, num_proc=2, with_offsets=True, batch_size=8)
    assert mapped["tokens"] == [default.tokens(t) for t in texts]
    assert mapped["tokens_offsets"][0] == [[t.start, t.end] for t in default(texts[0])]
    assert mapped["label"] == ds["label"]
    # The datasets cache key depends only on the spec: equal pipelines hash equal, different ones not.
    a = pipeline_mod.DatasetMapper(json.dumps(default.spec(), sort_keys=True), "text", "tokens", False)
    b = pipeline_mod.DatasetMapper(json.dumps(Pipeline.default().spec(), sort_keys=True), "text", "tokens", False)
    a({"text": ["warm up the lazy pipeline"]})
    assert Hasher.hash(a) == Hasher.hash(b)
    other = Pipeline.load("configs/preprocess/nltk_porter.yaml")
    c = pipeline_mod.DatasetMapper(json.dumps(other.spec(), sort_keys=True), "text", "tokens", False)
    assert Hasher.hash(c) != Hasher.hash(a)


def test_map_dataset_missing_column(default):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"review": ["x"]})
    with pytest.raises(ConfigError, match="no column 'text'; columns: review"):
        default.map_dataset(ds)


def test_tokens_are_plain_tokens(default):
    toks = default("Dogs bark")
    assert all(type(t) is Token for t in toks)


def test_results_survive_packing_for_other_processes(default):
    from textseq.text.pipeline import pack_results, unpack_results

    results = default.run_batch([SAMPLE, "", "Dogs bark", "\u00e9t\u00e9 \U0001f44d"])
    assert unpack_results(pack_results(results)) == results
    assert all(type(t) is Token for toks in unpack_results(pack_results(results)) for t in toks)
    texts = Pipeline.from_spec([{"stage": "case"}]).run_batch(["A", "B"])
    assert unpack_results(pack_results(texts)) == ["a", "b"]
