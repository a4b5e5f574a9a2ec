"""Tiny synthetic review data and one shared tiny classification run for the classification tests."""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

import pytest
import yaml

POSITIVE = "wonderful brilliant superb delightful moving masterpiece gripping charming".split()
NEGATIVE = "awful boring dreadful tedious clumsy disaster lifeless painful".split()
FILLER = ("film movie plot actor director scene story ending music camera cast script "
          "watched saw felt thought found seemed").split()
FAST_PIPELINE = {"stages": [{"stage": "case", "mode": "lower"}, {"stage": "regex_words"}]}


def review(label: str, rng: random.Random) -> str:
    """A few filler words around two or three words of the label's sentiment."""
    cue = POSITIVE if label == "pos" else NEGATIVE
    words = rng.choices(FILLER, k=rng.randint(3, 12)) + rng.choices(cue, k=rng.randint(2, 3))
    rng.shuffle(words)
    return "The " + " ".join(words) + "."


def write_reviews(path: Path, n: int, seed: int, labels=("neg", "pos"), extra_rows=()) -> Path:
    """A CSV with columns text,label: `n` balanced synthetic reviews, then `extra_rows` (text, label)."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(n):
            label = labels[i % len(labels)]
            w.writerow([review("pos" if label in ("pos", "1", 1) else "neg", rng), label])
        for row in extra_rows:
            w.writerow(row)
    return path


def tiny_config(tmp: Path, **sections) -> Path:
    """Train/valid/test CSVs and a tiny job config in `tmp`; returns the config path."""
    write_reviews(tmp / "train.csv", 48, seed=1)
    write_reviews(tmp / "valid.csv", 16, seed=2)
    write_reviews(tmp / "test.csv", 16, seed=3)
    config = {
        "data": {"train": str(tmp / "train.csv"), "valid": str(tmp / "valid.csv"), "test": str(tmp / "test.csv"),
                 "min_freq": 1, "max_size": None, "max_tokens": 12, "batch_size": 8, "chunk_batches": 2},
        "model": {"cell": "gru", "emb_dim": 16, "hidden_size": 16, "pooling": "attention", "attention_dim": 8,
                  "dropout_emb": 0.0, "dropout_rnn": 0.0, "dropout_ff": 0.0},
        "train": {"optimizer": {"lr": 0.02}, "max_steps": 24, "eval_every": 12, "log_every": 6, "keep_last": 2,
                  "monitor": "macro_f1", "monitor_mode": "max", "device": "cpu", "num_threads": 1, "tensorboard": False},
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value}
    path = tmp / "job.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def clf_run(tmp_path_factory) -> Path:
    """A finished 24-step run through the CLI (sentiment pipeline, attention pooling); copy before changing it."""
    from textseq.cli import main

    tmp = tmp_path_factory.mktemp("clf_run")
    config = tiny_config(tmp)
    run_dir = tmp / "run"
    assert main(["train-classifier", "-c", str(config), "-o", str(run_dir), "--no-progress"]) == 0
    return run_dir


@pytest.fixture
def clf_run_copy(clf_run, tmp_path) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(clf_run, dest)
    return dest
