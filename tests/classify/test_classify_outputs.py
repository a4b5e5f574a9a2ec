"""eval-classifier reads the columns its model was trained on; predict -o never clobbers."""

from __future__ import annotations

import csv
import json
import os
import random

import pytest
import yaml

from textseq.cli import main

from .conftest import review, tiny_config


def write_columns(path, n, seed):
    """Reviews under the columns review,stars (not text,label)."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["stars", "review"])
        for i in range(n):
            label = ("neg", "pos")[i % 2]
            w.writerow([label, review(label, rng)])
    return path


@pytest.fixture(scope="module")
def column_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("columns")
    config = yaml.safe_load(tiny_config(tmp).read_text(encoding="utf-8"))
    config["data"].update(train=str(write_columns(tmp / "train.csv", 32, 1)),
                          valid=str(write_columns(tmp / "valid.csv", 8, 2)), test=None,
                          text_column="review", label_column="stars")
    config["train"].update(max_steps=4, eval_every=4)
    (tmp / "job.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["train-classifier", "-c", str(tmp / "job.yaml"), "-o", str(tmp / "run"), "--no-progress", "-q"]) == 0
    return tmp


def test_eval_classifier_uses_the_trained_columns(column_run, capsys):
    run, data = column_run / "run", column_run / "valid.csv"
    assert main(["eval-classifier", str(run), "-i", str(data), "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == 8 and 0 <= report["accuracy"] <= 1
    # the command line still wins: a column the file lacks is an error naming it
    assert main(["eval-classifier", str(run), "-i", str(data), "--text-column", "text"]) == 2
    err = capsys.readouterr().err
    assert "'text'" in err and "valid.csv" in err


def test_predict_output_is_checked_before_work(clf_run, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_bytes(b"A wonderful film.\nDull.\n")
    (tmp_path / "hard.txt").hardlink_to(texts)
    for out in (texts, tmp_path / "hard.txt"):
        assert main(["predict", str(clf_run), "-i", str(texts), "-o", str(out), "--force"]) == 2
        assert "is the input" in capsys.readouterr().err
    assert texts.read_bytes() == b"A wonderful film.\nDull.\n"
    out = tmp_path / "labels.jsonl"
    assert main(["predict", str(clf_run), "-i", str(texts), "-o", str(out), "-q"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    assert main(["predict", str(clf_run), "-i", str(texts), "-o", str(out)]) == 2
    assert "already exists; give --force" in capsys.readouterr().err
    assert main(["predict", str(clf_run), "-i", str(texts), "-o", str(out), "--force", "-q"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["hard.txt", "labels.jsonl", "texts.txt"]
