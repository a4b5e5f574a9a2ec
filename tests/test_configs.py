"""Every config shipped under configs/ validates against its schema."""

from __future__ import annotations

import glob

import pytest

from textseq.lm.config import load_job_config
from textseq.text.pipeline import Pipeline


@pytest.mark.parametrize("path", sorted(glob.glob("configs/preprocess/*.yaml")))
def test_preprocess_configs_validate_and_round_trip(path):
    pipeline = Pipeline.load(path)
    assert Pipeline.from_spec(pipeline.spec()) == pipeline
    assert pipeline("Some text.") is not None


@pytest.mark.parametrize("path", sorted(glob.glob("configs/lm/*.yaml")))
def test_lm_configs_validate(path):
    from textseq.lm.prepare import word_pipeline

    config = load_job_config(path)
    assert config.lm_config(vocab_size=100).vocab_size == 100
    assert config.train.seed == config.seed
    if config.data.level == "word":
        assert word_pipeline(config.data.word.pipeline).tokenizer is not None


def test_lm_configs_exist():
    assert {"char_lstm.yaml", "char_gru.yaml", "subword_lstm.yaml", "word_lstm.yaml"} <= {
        p.split("/")[-1] for p in glob.glob("configs/lm/*.yaml")}


@pytest.mark.parametrize("path", sorted(glob.glob("configs/sentiment/*.yaml")))
def test_sentiment_configs_validate(path):
    from textseq.classify.config import load_job_config as load_classify_config
    from textseq.classify.prepare import load_pipeline

    config = load_classify_config(path)
    assert config.classifier_config(vocab_size=100, num_classes=2, class_weights=None, pad_id=0).vocab_size == 100
    assert config.train.seed == config.seed
    if config.transfer.lm_run is None:
        assert load_pipeline(config.data.pipeline).tokenizer is not None


def test_sentiment_configs_exist():
    assert {"imdb_bilstm_glove.yaml", "imdb_gru.yaml", "rt_bilstm.yaml", "imdb_lm_transfer.yaml",
            "bag_of_embeddings.yaml"} <= {p.split("/")[-1] for p in glob.glob("configs/sentiment/*.yaml")}


@pytest.mark.parametrize("path", sorted(glob.glob("configs/embed/*.yaml")))
def test_embed_configs_validate(path):
    from textseq.config import StrictModel
    from textseq.embeddings.train import load_embed_config

    cfg = load_embed_config(path)
    assert isinstance(cfg.method_config(), StrictModel)
    assert cfg.method in path
    Pipeline.load(cfg.pipeline)  # the pipeline it names exists and validates


def test_every_config_is_covered():
    known = ("configs/preprocess/", "configs/lm/", "configs/sentiment/", "configs/embed/")
    stray = [p for p in glob.glob("configs/**/*.yaml", recursive=True) if not p.startswith(known)]
    assert not stray, f"configs without a validation test: {stray}"
