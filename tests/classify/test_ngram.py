"""The n-gram (NBSVM / TF-IDF) classifier: trained through the CLI, served by load_run, predict and
eval-classifier, saved without pickle, strict about its config."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from textseq.cli import main
from textseq.classify.ngram import ngram_keys
from textseq.classify.predict import Predictor
from textseq.errors import ConfigError
from textseq.runs import load_run

from .conftest import FAST_PIPELINE, write_reviews

pytest.importorskip("sklearn")


def ngram_config(tmp, **model) -> str:
    write_reviews(tmp / "train.csv", 64, seed=1)
    write_reviews(tmp / "valid.csv", 24, seed=2)
    write_reviews(tmp / "test.csv", 24, seed=3)
    config = {"data": {"train": str(tmp / "train.csv"), "valid": str(tmp / "valid.csv"), "test": str(tmp / "test.csv"),
                       "pipeline": FAST_PIPELINE, "min_freq": 1, "max_size": None, "max_tokens": None},
              "model": {"kind": "ngram", "ngrams": [1, 2], "weighting": "nb", "C": [0.1, 1.0], **model}}
    path = tmp / "ngram.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def ngram_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ngram")
    # --threads is one of the shortcuts every train command offers; the n-gram task takes it too
    assert main(["train-classifier", "-c", ngram_config(tmp), "-o", str(tmp / "run"), "--no-progress", "--threads", "1"]) == 0
    assert yaml.safe_load((tmp / "run" / "config.yaml").read_text())["train"]["num_threads"] == 1
    return tmp / "run"


def test_ngram_keys_stay_inside_each_document():
    tokens = np.array([5, 9, 9, 2, 7, 5, 9], dtype=np.int32)
    found = ngram_keys(tokens, np.array([0, 4, 7]), [2], vocab_size=10)
    pairs = sorted((int(r), int(k) // 4 // 10, int(k) // 4 % 10) for r, k in zip(found.rows, found.cols))
    assert pairs == [(0, 5, 9), (0, 9, 2), (0, 9, 9), (1, 5, 9), (1, 7, 5)]  # no (2, 7) across the border
    uni = ngram_keys(np.array([3, 3, 4]), np.array([0, 3]), [1], vocab_size=10)
    assert sorted(zip((uni.cols // 4).tolist(), uni.counts.tolist())) == [(3, 2), (4, 1)]


def test_trained_through_the_cli_and_served_like_any_classifier(ngram_run, capsys):
    report = json.loads((ngram_run / "report.json").read_text())
    assert report["task"] == "ngram" and report["test"]["accuracy"] >= 0.9  # separable synthetic reviews
    assert [g["C"] for g in report["grid"]] == [0.1, 1.0] and report["chosen_C"] in (0.1, 1.0)
    run = load_run(ngram_run, task="classify")  # the classifier loader opens it
    assert run.task == "ngram" and run.labels == ["neg", "pos"]
    assert main(["predict", str(ngram_run), "A wonderful, superb film.", "Boring and dreadful.", ""]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["label"] for x in lines[:2]] == ["pos", "neg"]
    assert all(sum(x["probs"].values()) == pytest.approx(1.0, abs=1e-5) for x in lines)
    assert main(["eval-classifier", str(ngram_run), "-i", str(ngram_run.parent / "test.csv")]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["accuracy"] == pytest.approx(report["test"]["accuracy"])


def test_save_load_round_trip_gives_identical_probabilities(ngram_run, tmp_path):
    texts = ["superb moving film", "tedious painful plot", "the camera", "", "charming but clumsy"]
    first = Predictor.load(ngram_run).predict_proba(texts)
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(ngram_run, copy)
    second = Predictor.load(copy).predict_proba(texts)
    assert np.array_equal(first, second) and first.shape == (5, 2)
    assert not np.allclose(first[0], first[1])


def test_no_pickle_in_the_run_dir(ngram_run):
    for path in ngram_run.rglob("*"):
        if path.is_file():
            head = path.read_bytes()[:2]
            assert not head.startswith(b"\x80") and path.suffix not in (".pkl", ".pickle", ".joblib", ".pt"), path


@pytest.mark.parametrize("key,value,named", [("model.Cs", "[1]", "Cs"), ("model.weighting", "idf", "weighting"),
                                             ("model.ngrams", "[4]", "ngrams"), ("train.max_minutes", "1", "max_minutes"),
                                             ("model.char_ngrams", "[0]", "char_ngrams"), ("model.ngrams", "[]", "ngrams")])
def test_bad_config_keys_are_rejected_with_the_key_named(tmp_path, key, value, named):
    from textseq.classify.ngram_task import NgramTask

    with pytest.raises(ConfigError, match=named):
        NgramTask().load_config(ngram_config(tmp_path), [f"{key}={value}"])


def test_svm_with_tfidf_gives_calibrated_probabilities(tmp_path):
    config = ngram_config(tmp_path, weighting="tfidf", classifier="svm")
    assert main(["train-classifier", "-c", config, "-o", str(tmp_path / "svm"), "--no-progress"]) == 0
    probs = Predictor.load(tmp_path / "svm").predict_proba(["superb wonderful", "awful dreadful"])
    assert probs[0, 1] > 0.5 > probs[1, 1]


def test_without_scikit_learn_one_line_says_how_to_install(monkeypatch):
    import sys

    from textseq.classify.ngram_task import sklearn
    from textseq.errors import ResourceMissingError

    for name in ("sklearn", "sklearn.linear_model", "sklearn.svm"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as when it is not installed
    with pytest.raises(ResourceMissingError, match=r"pip install 'textseq\[ngram\]'") as err:
        sklearn()
    assert "\n" not in str(err.value)


def test_normalized_vectors_have_unit_length_and_raw_ones_do_not():
    from textseq.classify.ngram import feature_values, lookup

    found = ngram_keys(np.array([1, 2, 3, 1, 2]), np.array([0, 2, 5]), [1, 2], vocab_size=5)
    table = np.unique(found.cols)
    t = lookup(found, table)
    scale = np.linspace(0.5, 2.0, len(table))
    for weighting in ("binary", "nb", "tfidf"):
        norms = np.bincount(t.rows, weights=feature_values(t, weighting, scale, normalize=True) ** 2)
        assert np.allclose(norms, 1.0)
    raw = np.bincount(t.rows, weights=feature_values(t, "binary", scale) ** 2)
    assert raw.tolist() == [3.0, 5.0]  # 2 + 1 and 3 + 2 distinct n-grams


def test_character_ngrams_of_a_word_carry_boundary_marks_and_counts():
    from textseq.classify.ngram import char_gram_key, char_gram_map

    cmap = char_gram_map(["abab", None, ""], [2, 3])
    assert cmap.indptr.tolist() == [0, 8, 8, 8]  # the special and the empty word have none
    got = dict(zip(cmap.cols.tolist(), cmap.counts.tolist()))
    grams = ["<a", "ab", "ba", "b>", "<ab", "aba", "bab", "ab>"]
    assert got == {char_gram_key(g): 2 if g == "ab" else 1 for g in grams}
    assert all(k % 4 == 3 and 0 < k < 2 ** 60 for k in got)  # tag 3: apart from every word n-gram key


def test_character_ngram_model_scores_what_its_words_grams_say(tmp_path):
    """Served scores == bias + the weights of the distinct character n-grams of the document's words
    (binary weighting, raw vectors), computed here from the strings."""
    from textseq.classify.ngram import char_gram_key

    config = ngram_config(tmp_path, ngrams=[], char_ngrams=[3, 4], weighting="binary", normalize=False)
    assert main(["train-classifier", "-c", config, "-o", str(tmp_path / "chars"), "--no-progress"]) == 0
    run = load_run(tmp_path / "chars", task="classify")
    model, vocab = run.model, run.codec.vocab
    assert model.config.char_ngrams == [3, 4] and model.config.num_char_entries > 0
    assert json.loads((tmp_path / "chars" / "report.json").read_text())["test"]["accuracy"] >= 0.9
    keys = model.keys.numpy()
    weight, bias = model.weight.detach().numpy()[:, 0], float(model.bias[0])
    docs = [["superb", "film", "superb"], ["dreadful", "plot", "zzzunseen"]]
    ids = [[vocab.stoi.get(w, vocab.unk_id) for w in d] for d in docs]
    flat = np.array([i for d in ids for i in d])
    got = model.scores(flat, np.array([0, 3, 6]))[:, 0]
    for doc, want_score in zip(docs, got):
        grams = {char_gram_key(f"<{w}>"[i:i + n]) for w in doc if w in vocab.stoi for n in (3, 4)
                 for i in range(len(w) + 3 - n)}
        found = [int(np.searchsorted(keys, k)) for k in grams if k in set(keys.tolist())]
        assert want_score == pytest.approx(bias + weight[found].sum(), rel=1e-5, abs=1e-6)
    assert got[0] > 0 > got[1]
    reloaded = Predictor.load(tmp_path / "chars").predict_proba(["superb film", "dreadful plot"])
    assert reloaded[0, 1] > 0.5 > reloaded[1, 1]
