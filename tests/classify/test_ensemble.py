"""`textseq ensemble` and ensemble configs: a run that predict / eval-classifier serve, members pinned by sha256."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from textseq.cli import main
from textseq.classify.predict import Predictor
from textseq.runs import load_run
from textseq.train.checkpoint import CheckpointError

from .test_ngram import ngram_config

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("members")
    config = ngram_config(tmp)
    runs = []
    for name, sets in (("nb", []), ("tfidf", ["--set", "model.weighting=tfidf", "--set", "model.classifier=svm"])):
        assert main(["train-classifier", "-c", config, "-o", str(tmp / name), "--no-progress", *sets]) == 0
        runs.append(tmp / name)
    return runs


def test_ensemble_command_makes_a_run_served_like_any_classifier(members, tmp_path, capsys):
    out = tmp_path / "ens"
    assert main(["ensemble", *map(str, members), "-o", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert len(summary["weights"]) == 2 and summary["valid_accuracy"] >= 0.9
    run = load_run(out, task="classify")
    assert run.task == "ensemble" and run.labels == ["neg", "pos"]
    texts = ["superb moving film", "tedious painful plot", ""]
    probs = Predictor.load(out).predict_proba(texts)
    member = [Predictor.load(m).predict_proba(texts) for m in members]
    w = np.asarray(summary["weights"])
    logodds = sum(wi * (np.log(p[:, 1]) - np.log(p[:, 0])) for wi, p in zip(w, member))
    assert np.all(np.sign(np.log(probs[:2, 1] / probs[:2, 0])) == np.sign(logodds[:2]))
    assert probs[0, 1] > 0.5 > probs[1, 1] and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert main(["eval-classifier", str(out), "-i", str(members[0].parent / "test.csv")]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] >= 0.9
    assert main(["predict", str(out), "wonderful charming"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "pos"


def test_equal_weights_are_the_geometric_mean(members, tmp_path):
    out = tmp_path / "eq"
    assert main(["ensemble", *map(str, members), "-o", str(out), "--weights", "equal"]) == 0
    texts = ["superb film", "awful plot"]
    got = Predictor.load(out).predict_proba(texts)
    p = [np.clip(Predictor.load(m).predict_proba(texts), 1e-7, 1) for m in members]  # log 0 is kept away
    g = np.sqrt(p[0] * p[1])
    assert np.allclose(got, g / g.sum(1, keepdims=True), atol=1e-5)


def test_a_changed_member_is_an_error_naming_it(members, tmp_path):
    copy = tmp_path / "m0"
    shutil.copytree(members[0], copy)
    out = tmp_path / "ens"
    assert main(["ensemble", str(copy), str(members[1]), "-o", str(out)]) == 0
    other = tmp_path / "other"  # retrain the member in place with another grid: other weights
    assert main(["train-classifier", "-c", str(members[0].parent / "ngram.yaml"), "-o", str(other), "--no-progress",
                 "--set", "model.C=[0.01]"]) == 0
    shutil.rmtree(copy)
    shutil.copytree(other, copy)
    with pytest.raises(CheckpointError, match="m0"):
        load_run(out)


def test_one_config_trains_the_members_and_the_ensemble(members, tmp_path):
    config = {"members": [{"run": str(members[0])},
                          {"config": str(members[0].parent / "ngram.yaml"), "name": "bin", "set": ["model.weighting=binary"]}]}
    path = tmp_path / "hybrid.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train-classifier", "-c", str(path), "-o", str(tmp_path / "hy"), "--no-progress"]) == 0
    assert (tmp_path / "hy" / "members" / "bin" / "best" / "model.safetensors").is_file()
    assert load_run(tmp_path / "hy").task == "ensemble"


def test_ensemble_needs_two_members(members, tmp_path):
    assert main(["ensemble", str(members[0]), "-o", str(tmp_path / "one")]) == 2


def test_members_with_one_pipeline_share_its_tokens_and_predict_as_alone(members, monkeypatch):
    from dataclasses import replace

    from textseq.classify.ensemble import member_probabilities, pipeline_key
    from textseq.codecs import WordCodec

    predictors = [Predictor.load(m) for m in members]
    assert pipeline_key(predictors[0]) is not None and pipeline_key(predictors[0]) == pipeline_key(predictors[1])
    # the second member cuts texts over 2 * 20 characters before its pipeline: those get their own tokens
    predictors[1].codec.truncation = replace(predictors[1].codec.truncation, max_tokens=2, policy="head")
    texts = ["superb moving film", "a tedious painful plot that goes on and on, and then it goes on some more", ""]
    alone = [p.predict_proba(texts) for p in predictors]
    calls = []
    real = WordCodec.tokenize_many

    def counted(self, texts, *args, **kwargs):
        texts = list(texts)
        calls.append(len(texts))
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(WordCodec, "tokenize_many", counted)
    shared = member_probabilities(predictors, texts)
    assert calls == [3, 1]  # every text once for both members, then the one text member 2 cuts
    for got, want in zip(shared, alone):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(alone[1][1], Predictor.load(members[1]).predict_proba(texts)[1])  # the cut mattered
    calls.clear()
    unshared = member_probabilities(predictors, texts, share=False)
    assert calls == [3, 3] and all(np.array_equal(a, b) for a, b in zip(unshared, alone))
