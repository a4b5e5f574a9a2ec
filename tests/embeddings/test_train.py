"""`train_embeddings`: configs, the cached token file, and the agreed output layout for each method."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textseq.embeddings.train import (
    EmbedConfig,
    load_embed_config,
    prepare_token_file,
    train_embeddings,
)
from textseq.errors import ConfigError, InputError
from textseq.text.pipeline import Pipeline

FAST_PIPELINE = {"stages": [{"stage": "case", "mode": "lower"}, {"stage": "regex_words"}]}


def test_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'glove'"):
        load_embed_config("configs/embed/glove.yaml", ["method=glov"])
    with pytest.raises(ConfigError, match="glove.xmax"):
        load_embed_config("configs/embed/glove.yaml", ["glove.xmax=10"])


def _corpus(tmp_path, lines=None):
    rng = np.random.default_rng(0)
    groups = [["cat", "dog", "mouse", "horse"], ["red", "green", "blue", "yellow"]]
    if lines is None:
        lines = [" ".join(rng.choice(groups[k % 2], size=10)).title() + "." for k in range(200)]
    path = tmp_path / "corpus.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _config(tmp_path, method, **sections):
    data = {"method": method, "corpus": [str(_corpus(tmp_path))], "pipeline": FAST_PIPELINE, "n_proc": 1,
            "token_cache": str(tmp_path / "cache"), **sections}
    return EmbedConfig.model_validate(data)


SMALL = {
    "glove": {"glove": {"dim": 8, "epochs": 5, "min_count": 1, "batch_size": 256, "threads": 1}},
    "word2vec": {"word2vec": {"dim": 8, "epochs": 1, "min_count": 1, "workers": 1}},
    "fasttext": {"fasttext": {"dim": 8, "epochs": 1, "min_count": 1, "bucket": 2000, "workers": 1}},
}


@pytest.mark.parametrize("method", sorted(SMALL))
def test_each_method_writes_the_agreed_layout(tmp_path, method):
    from textseq.embeddings.vectors import load_vectors

    out = tmp_path / "out"
    result = train_embeddings(_config(tmp_path, method, **SMALL[method]), out, progress=False)
    files = {p.name for p in out.iterdir()}
    expected = {"vectors.npy", "vocab.txt", "meta.json", "config.yaml"} | ({"fasttext.bin"} if method == "fasttext" else set())
    assert files == expected  # no pickle, no leftover scratch
    vectors = np.load(out / "vectors.npy", allow_pickle=False)
    words = (out / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vectors.dtype == np.float32 and vectors.shape == (len(words), 8)
    assert "." in words and "cat" in words  # lower-cased tokens, punctuation kept
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta == result.meta
    assert meta["method"] == method and meta["dim"] == 8 and meta["tokens"] == 200 * 11
    assert meta["pipeline"]["stages"][1]["stage"] == "regex_words" and meta["config"]["method"] == method
    assert meta["training_seconds"] > 0 and meta["words_per_second"] > 0
    if method == "glove":
        assert meta["updates_per_second"] > 0 and meta["updates_per_second_per_core"] > 0
    loaded = load_vectors(out)
    assert loaded.words == words
    if method == "fasttext":
        assert loaded.has_subwords and np.abs(loaded.vector("catdog")).sum() > 0  # unseen word


def test_token_file_is_cached_and_keyed_by_pipeline(tmp_path):
    cfg = _config(tmp_path, "glove")
    path, stats = prepare_token_file(cfg, Pipeline.from_spec(FAST_PIPELINE))
    assert stats == {"documents": 200, "tokens": 2200}
    assert path.read_text(encoding="utf-8").splitlines()[0].split()[-1] == "."
    mtime = path.stat().st_mtime_ns
    again, _ = prepare_token_file(cfg, Pipeline.from_spec(FAST_PIPELINE))
    assert again == path and again.stat().st_mtime_ns == mtime
    other, _ = prepare_token_file(cfg, Pipeline.from_spec({"stages": [{"stage": "regex_words"}]}))
    assert other != path
    cut = cfg.model_copy(update={"max_tokens": 25, "n_proc": 2})
    short, stats = prepare_token_file(cut, Pipeline.from_spec(FAST_PIPELINE))
    assert stats["tokens"] == 25 and len(short.read_text(encoding="utf-8").split()) == 25


@pytest.mark.parametrize("lines", [[], ["", "  ", "..."]], ids=["no-lines", "no-words"])
def test_empty_corpus_is_a_clear_error(tmp_path, lines):
    cfg = _config(tmp_path, "word2vec")
    _corpus(tmp_path, lines)  # overwrite with an empty corpus
    cfg = cfg.model_copy(update={"pipeline": {"stages": [{"stage": "regex_words", "pattern": "\\w+"}]}})
    with pytest.raises(InputError, match="no tokens"):
        train_embeddings(cfg, tmp_path / "out", progress=False)
