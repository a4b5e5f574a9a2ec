"""Bad and odd input to the classification job: clear errors naming file, row or column, or counted skips;
class weights; ULMFiT transfer from a tiny word-level LM run."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from textseq.cli import main

from .conftest import FAST_PIPELINE, review, tiny_config, write_reviews


def _train(config, tmp_path, capsys, *overrides):
    args = ["train-classifier", "-c", str(config), "-o", str(tmp_path / "run"), "--no-progress"]
    for item in overrides:
        args += ["--set", item]
    code = main(args)
    return code, capsys.readouterr()


FAST = [f"data.pipeline={json.dumps(FAST_PIPELINE)}", "train.max_steps=2", "train.eval_every=2"]


def test_csv_missing_the_label_column_names_file_and_column(tmp_path, capsys):
    config = tiny_config(tmp_path)
    code, out = _train(config, tmp_path, capsys, "data.label_column=sentiment", *FAST)
    assert code == 2
    assert f"{tmp_path / 'train.csv'}: no column 'sentiment'; columns present: text, label" in out.err


def test_mixed_label_types_name_the_row(tmp_path, capsys):
    config = tiny_config(tmp_path)
    write_reviews(tmp_path / "train.csv", 10, seed=1, labels=("0", "1"), extra_rows=[("a superb film", "pos")])
    code, out = _train(config, tmp_path, capsys, *FAST)
    assert code == 2
    assert f"{tmp_path / 'train.csv'}:12: label 'pos' is a string, but {tmp_path / 'train.csv'}:2 has an integer label '0'" in out.err


def test_integer_labels_train_and_predict_as_strings(tmp_path, capsys):
    config = tiny_config(tmp_path)
    for name, seed in (("train", 1), ("valid", 2), ("test", 3)):
        write_reviews(tmp_path / f"{name}.csv", 24, seed=seed, labels=("0", "1"))
    code, out = _train(config, tmp_path, capsys, *FAST)
    assert code == 0, out.err
    assert json.loads((tmp_path / "run" / "labels.json").read_text()) == ["0", "1"]
    assert main(["predict", str(tmp_path / "run"), "superb"]) == 0
    assert set(json.loads(capsys.readouterr().out)["probs"]) == {"0", "1"}


def test_unseen_valid_label_during_training_errors_or_is_counted(tmp_path, capsys):
    config = tiny_config(tmp_path)
    write_reviews(tmp_path / "valid.csv", 8, seed=2, extra_rows=[("so so", "mixed"), ("meh", "mixed")])
    code, out = _train(config, tmp_path, capsys, *FAST)
    assert code == 2 and f"{tmp_path / 'valid.csv'}:10: label 'mixed' is not a training class (neg, pos)" in out.err
    code, out = _train(config, tmp_path, capsys, *FAST, "data.unseen_labels=skip")
    assert code == 0, out.err
    meta = json.loads((tmp_path / "run" / "data" / "valid.json").read_text())
    assert meta["skipped_unseen_labels"] == 2 and meta["documents"] == 8
    assert "2 skipped for labels unseen in training" in out.err


def test_empty_texts_are_kept_as_one_unk_and_counted(tmp_path, capsys):
    config = tiny_config(tmp_path)
    write_reviews(tmp_path / "train.csv", 24, seed=1, extra_rows=[("", "neg"), ("   ", "pos")])
    code, out = _train(config, tmp_path, capsys, *FAST)
    assert code == 0, out.err
    meta = json.loads((tmp_path / "run" / "data" / "train.json").read_text())
    assert meta["documents"] == 26 and meta["empty"] == 2
    assert "2 empty (encoded as one <unk>)" in out.err


def test_prediction_survives_huge_empty_and_odd_texts(clf_run):
    from textseq.classify import Predictor

    predictor = Predictor.load(clf_run)
    texts = ["superb " * 150_000 + "awful", "", "\x00\u202e\U0001f44d", "a"]
    results = predictor.predict(texts)
    assert len(results) == 4 and all(sum(r["probs"].values()) == pytest.approx(1.0, abs=1e-5) for r in results)
    assert results[0]["label"] == "pos"


def test_balanced_class_weights_are_computed_and_stored(tmp_path, capsys):
    from sklearn.utils.class_weight import compute_class_weight

    config = tiny_config(tmp_path)
    write_reviews(tmp_path / "train.csv", 30, seed=1, labels=("neg", "neg", "neg", "neg", "pos"))
    code, out = _train(config, tmp_path, capsys, *FAST, "data.class_weights=balanced")
    assert code == 0, out.err
    stored = json.loads((tmp_path / "run" / "best" / "extra.json").read_text())["model_config"]["class_weights"]
    y = np.array([0] * 24 + [1] * 6)
    assert stored == pytest.approx(compute_class_weight("balanced", classes=np.array([0, 1]), y=y).tolist())
    assert stored == pytest.approx([30 / (2 * 24), 30 / (2 * 6)])


def test_class_weight_list_must_match_the_classes(tmp_path, capsys):
    code, out = _train(tiny_config(tmp_path), tmp_path, capsys, *FAST, "data.class_weights=[1.0, 2.0, 3.0]")
    assert code == 2 and "data.class_weights has 3 numbers, but the training data has 2 classes (neg, pos)" in out.err


def _word_lm(tmp_path, name: str = "lm", embedding_from: str | None = None, **model) -> str:
    """Train a 3-step word LM on review lines into tmp_path/name; returns the run directory."""
    if not (tmp_path / "lm_train.txt").exists():
        rng = random.Random(5)
        lines = [review(rng.choice(["pos", "neg"]), rng) for _ in range(80)]
        (tmp_path / "lm_train.txt").write_text("\n".join(lines[:60]) + "\n")
        (tmp_path / "lm_valid.txt").write_text("\n".join(lines[60:]) + "\n")
    lm_config = {
        "data": {"train": str(tmp_path / "lm_train.txt"), "valid": str(tmp_path / "lm_valid.txt"), "level": "word",
                 "word": {"pipeline": FAST_PIPELINE, "min_freq": 1, "max_size": model.pop("max_size", None)},
                 "batch_size": 4, "bptt": 8},
        "model": {"cell": "lstm", "emb_dim": 12, "hidden_size": 10, "num_layers": 1, "tie_weights": False, **model},
        "train": {"max_steps": 3, "eval_every": 3, "device": "cpu", "num_threads": 1, "tensorboard": False},
        "sample": {"length": 0},
        "embedding": {"from_lm": embedding_from},
    }
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(lm_config))
    assert main(["train-lm", "-c", str(tmp_path / f"{name}.yaml"), "-o", str(tmp_path / name), "--no-progress"]) == 0
    return str(tmp_path / name)


def _transfer_config(tmp_path, transfer: dict, **model) -> Path:
    config = tiny_config(tmp_path, transfer={"unfreeze_every": 1000, "unfreeze_unit": "steps", **transfer},
                         model={"cell": "lstm", "bidirectional": False, "pooling": "mean", **model})
    raw = yaml.safe_load(config.read_text())
    for key in ("emb_dim", "hidden_size", "cell"):
        raw["model"].pop(key, None)  # taken from the LM
    config.write_text(yaml.safe_dump(raw))
    return config


def test_transfer_from_a_word_level_lm_run(tmp_path, capsys):
    pytest.importorskip("textseq.lm.task", reason="the language-model job (textseq.lm) is not available")
    from safetensors.torch import load_file

    config = _transfer_config(tmp_path, {"lm_run": _word_lm(tmp_path)})
    code, out = _train(config, tmp_path, capsys, "train.max_steps=4", "train.eval_every=2")
    assert code == 0, out.err
    assert "using the language model's pipeline and vocabulary" in out.err and "transfer: " in out.err
    run = tmp_path / "run"
    lm_extra = json.loads(next((tmp_path / "lm").glob("step-*/extra.json")).read_text())
    extra = json.loads((run / "step-000004" / "extra.json").read_text())
    assert extra["codec"]["vocab"]["tokens"] == lm_extra["codec"]["vocab"]["tokens"]  # the LM's vocabulary, reused
    assert extra["model_config"]["emb_dim"] == 12 and extra["model_config"]["hidden_size"] == 10
    lm_weights = load_file(str(tmp_path / "lm" / "best" / "model.safetensors"))
    weights = load_file(str(run / "step-000004" / "model.safetensors"))
    # gradual unfreezing kept everything below the head frozen for these 4 steps: still the LM's weights
    assert np.array_equal(weights["embedding.weight"].numpy(), lm_weights["embedding.weight"].numpy())
    assert np.array_equal(weights["rnn.weight_hh_l0"].numpy(), lm_weights["rnn.weight_hh_l0"].numpy())


def test_transfer_from_forward_and_backward_lm_runs(tmp_path, capsys):
    pytest.importorskip("textseq.lm.task", reason="the language-model job (textseq.lm) is not available")
    from safetensors.torch import load_file

    fwd = _word_lm(tmp_path)
    back = _word_lm(tmp_path, "back", embedding_from=fwd, direction="backward")
    config = _transfer_config(tmp_path, {"lm_run": fwd, "lm_run_backward": back}, bidirectional=True)
    code, out = _train(config, tmp_path, capsys, "train.max_steps=4", "train.eval_every=2")
    assert code == 0, out.err
    assert f"from {fwd} and {back}" in out.err and "right-to-left direction" in out.err
    f, b = (load_file(str(Path(run) / "best" / "model.safetensors")) for run in (fwd, back))
    weights = load_file(str(tmp_path / "run" / "step-000004" / "model.safetensors"))
    assert torch.equal(weights["rnn.weight_hh_l0"], f["rnn.weight_hh_l0"])
    assert torch.equal(weights["rnn.weight_ih_l0_reverse"], b["rnn.weight_ih_l0"])
    assert torch.equal(weights["rnn.weight_hh_l0_reverse"], b["rnn.weight_hh_l0"])
    assert torch.equal(weights["embedding.weight"], f["embedding.weight"])


@pytest.mark.parametrize("case,message", [
    ("forward_as_backward", "the backward LM reads left to right"),
    ("other_vocabulary", "another vocabulary or pipeline"),
    ("own_embedding", "has an embedding of its own"),
    ("unidirectional", "set model.bidirectional: true"),
    ("no_forward", "transfer.lm_run_backward needs transfer.lm_run"),
])
def test_backward_transfer_mistakes(tmp_path, capsys, case, message):
    pytest.importorskip("textseq.lm.task", reason="the language-model job (textseq.lm) is not available")
    fwd = _word_lm(tmp_path)
    back = {"forward_as_backward": fwd,
            "other_vocabulary": lambda: _word_lm(tmp_path, "small", direction="backward", max_size=20),
            "own_embedding": lambda: _word_lm(tmp_path, "own", direction="backward")}.get(case, fwd)
    back = back() if callable(back) else back
    transfer = {"lm_run": None if case == "no_forward" else fwd, "lm_run_backward": back}
    config = _transfer_config(tmp_path, transfer, bidirectional=case != "unidirectional")
    code, out = _train(config, tmp_path, capsys, "train.max_steps=1")
    assert code == 2 and message in out.err


def test_transfer_refuses_a_character_lm(tmp_path, capsys):
    pytest.importorskip("textseq.lm.task", reason="the language-model job (textseq.lm) is not available")
    rng = random.Random(6)
    (tmp_path / "lm.txt").write_text("\n".join(review("pos", rng) for _ in range(40)) + "\n")
    lm_config = {"data": {"train": str(tmp_path / "lm.txt"), "valid": str(tmp_path / "lm.txt"), "level": "char",
                          "batch_size": 2, "bptt": 8},
                 "model": {"emb_dim": 4, "hidden_size": 4}, "train": {"max_steps": 1, "device": "cpu", "tensorboard": False},
                 "sample": {"length": 0}}
    (tmp_path / "lm.yaml").write_text(yaml.safe_dump(lm_config))
    assert main(["train-lm", "-c", str(tmp_path / "lm.yaml"), "-o", str(tmp_path / "lm"), "--no-progress"]) == 0
    config = tiny_config(tmp_path, transfer={"lm_run": str(tmp_path / "lm")})
    code, out = _train(config, tmp_path, capsys, *FAST[1:])
    assert code == 2 and "needs a word-level LM" in out.err
