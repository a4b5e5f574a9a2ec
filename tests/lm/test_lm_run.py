"""load_run on language-model runs: the model, codec and config a run was trained with."""

from __future__ import annotations

import json

import pytest

from textseq.runs import load_run
from textseq.train.checkpoint import CheckpointError


def test_load_run_opens_a_language_model_run_with_its_codec_and_config(char_run):
    from textseq.lm.config import LMJobConfig
    from textseq.lm.inference import generate_text

    run = load_run(char_run)
    assert run.task == "lm" and isinstance(run.config, LMJobConfig) and run.codec.name == "chars"
    assert run.config.model.hidden_size == run.model.config.hidden_size == 16
    assert run.codec.decode(run.codec.encode("KING: the")) == "KING: the"
    report = json.loads((char_run / "report.json").read_text())
    assert report["task"] == "lm" and report["valid"]["bpc"] > 0 and report["sample"].startswith("KING:")
    # the loaded model and the run's own sample agree: same weights, same seed, same text
    sample = "".join(generate_text(run.model, run.config.sample.prime, run.config.sample.length,
                                   temperature=run.config.sample.temperature, seed=run.config.seed, codec=run.codec,
                                   with_prime=True))
    assert sample == report["sample"] == (char_run / "sample.txt").read_text()


def test_load_run_of_the_wrong_task_says_so(char_run):
    with pytest.raises(CheckpointError, match="is not a classification run"):
        load_run(char_run, task="classify")


def test_load_run_refuses_a_checkpoint_whose_weights_changed(run_copy):
    weights = run_copy / "best" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\x00" * 8)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_run(run_copy)
