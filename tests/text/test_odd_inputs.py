"""Every registered stage, and every shipped pipeline, survives odd input: no crash, no hang,
valid offsets. Stages are discovered from the registry, so a new stage is covered automatically."""

from __future__ import annotations

import glob

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ODD_TEXTS
from textseq.text.base import STAGES, Stage, stage_from_spec
from textseq.text.pipeline import Pipeline
from textseq.text.subword import SubwordModel

PIPELINES = sorted(glob.glob("configs/preprocess/*.yaml"))
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200)


@pytest.fixture(scope="module")
def subword_model(tmp_path_factory) -> str:
    lines = [f"the quick brown fox {i} jumps over the lazy dog, doesn't it? caf\u00e9 na\u00efve" for i in range(300)]
    prefix = tmp_path_factory.mktemp("spm") / "m"
    SubwordModel.train(lines, model_type="unigram", vocab_size=60, out_prefix=str(prefix))
    return f"{prefix}.model"


@pytest.fixture(scope="module")
def all_stages(subword_model) -> list[Stage]:
    stage_from_spec({"stage": "case"})  # registers the built-in stages
    needs = {"sentencepiece": {"model": subword_model}}
    return [stage_from_spec({"stage": name, **needs.get(name, {})}) for name in STAGES.names()
            if not name.startswith("_test")]


def _check(stage: Stage, text: str) -> None:
    value = stage(text)
    if stage.produces == "text":
        assert isinstance(value, str)
        return
    assert isinstance(value, list)
    n = len(text)
    for tok in value:
        assert isinstance(tok.text, str)
        assert 0 <= tok.start <= tok.end <= n, (stage.name, tok)


def test_registry_has_the_documented_stages(all_stages):
    names = {s.name for s in all_stages}
    assert {"unicode", "case", "strip_accents", "contractions", "patterns", "punctuation", "control_chars",
            "whitespace", "spacy_words", "nltk_treebank", "nltk_tweet", "regex_words", "spacy_sentences",
            "punkt_sentences", "characters", "sentencepiece", "stopwords", "stem", "lemmatize"} <= names


@pytest.mark.parametrize("name", sorted(ODD_TEXTS))
def test_every_stage_on_odd_text(all_stages, name):
    for stage in all_stages:
        _check(stage, ODD_TEXTS[name])


@pytest.mark.parametrize("path", PIPELINES)
@pytest.mark.parametrize("name", sorted(ODD_TEXTS))
def test_every_pipeline_on_odd_text(path, name):
    pipeline = Pipeline.load(path)
    text = ODD_TEXTS[name]
    out = pipeline(text)
    if pipeline.produces == "tokens":
        assert all(0 <= t.start <= t.end <= len(text) for t in out)
        assert [t.start for t in out] == sorted(t.start for t in out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=ANY_TEXT)
def test_every_stage_on_arbitrary_unicode(all_stages, text):
    for stage in all_stages:
        _check(stage, text)


@settings(max_examples=60, deadline=None)
@given(text=ANY_TEXT)
def test_default_pipeline_on_arbitrary_unicode(text):
    out = Pipeline.default()(text)
    assert all(0 <= t.start <= t.end <= len(text) for t in out)


def test_a_batch_with_odd_texts_equals_one_by_one():
    pipeline = Pipeline.default()
    texts = list(ODD_TEXTS.values())
    assert pipeline.run_batch(texts) == [pipeline(t) for t in texts]
