"""Tiny corpora and one shared tiny character-level run for the language-modelling tests."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import yaml

WORDS = ("the king shall speak of love and death tonight my lord what say you good sir i will not go "
         "here comes the queen with her fair daughter o sweet night be gone thou art a villain").split()
SPEAKERS = ("KING", "QUEEN", "HAMLET", "LEAR")


def play_text(n_chars: int, seed: int = 0) -> str:
    """Shakespeare-like lines (SPEAKER:, then words) from a tiny vocabulary, `n_chars` long or so.
    Only lower-case letters, the speakers' capitals, ':', ',', '.' and spaces and newlines occur."""
    rng = random.Random(seed)
    lines: list[str] = []
    size = 0
    while size < n_chars:
        block = [f"{rng.choice(SPEAKERS)}:"] + [" ".join(rng.choices(WORDS, k=rng.randint(4, 9))) + rng.choice(",.")
                                              for _ in range(rng.randint(1, 3))]
        lines += block + [""]
        size += sum(len(x) + 1 for x in block) + 1
    return "\n".join(lines)


def tiny_config(tmp: Path, level: str = "char", **sections) -> Path:
    """Write train/valid text and a tiny job config into `tmp`; returns the config path."""
    (tmp / "train.txt").write_text(play_text(6000, seed=1), encoding="utf-8")
    (tmp / "valid.txt").write_text(play_text(1500, seed=2), encoding="utf-8")
    config = {
        "data": {"train": str(tmp / "train.txt"), "valid": str(tmp / "valid.txt"), "level": level,
                 "batch_size": 4, "bptt": 16},
        "model": {"cell": "lstm", "emb_dim": 8, "hidden_size": 16, "num_layers": 1},
        "train": {"optimizer": {"lr": 0.01}, "max_steps": 6, "eval_every": 3, "log_every": 1,
                  "keep_last": 2, "device": "cpu", "num_threads": 1, "tensorboard": False},
        "sample": {"prime": "KING:", "length": 20},
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value}
    path = tmp / f"{level}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def char_run(tmp_path_factory) -> Path:
    """A finished 6-step character run (through the CLI); copy it before changing anything in it."""
    from textseq.cli import main

    tmp = tmp_path_factory.mktemp("char_run")
    config = tiny_config(tmp)
    run_dir = tmp / "run"
    assert main(["train-lm", "-c", str(config), "-o", str(run_dir), "--no-progress"]) == 0
    return run_dir


@pytest.fixture
def run_copy(char_run, tmp_path) -> Path:
    """A private copy of the shared run (hard-linked best/ files become plain copies)."""
    dest = tmp_path / "run"
    shutil.copytree(char_run, dest)
    return dest
