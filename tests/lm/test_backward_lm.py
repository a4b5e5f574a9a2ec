"""Backward language models (model.direction: backward): trained, evaluated and sampled right to left."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from textseq.data.lm import LMBatches, in_reading_order
from textseq.errors import ConfigError
from textseq.lm.inference import generate_text, load_lm
from textseq.lm.task import evaluate_tokens, train_lm
from textseq.models.lm import LMConfig, RecurrentLM

from ..conftest import captured_logs

LINE = "one two three four five six seven eight"


def test_reading_order_is_a_reversed_view():
    tokens = np.arange(10, dtype=np.uint16)
    back = in_reading_order(tokens, "backward")
    assert back.tolist() == list(range(9, -1, -1)) and np.shares_memory(back, tokens)
    assert in_reading_order(tokens, "forward") is tokens
    with pytest.raises(ConfigError, match="'sideways'"):
        in_reading_order(tokens, "sideways")


def test_backward_batches_predict_the_previous_token():
    tokens = np.arange(200, dtype=np.int32)
    batch = next(iter(LMBatches(in_reading_order(tokens, "backward"), 4, 5, random_offset=False)))
    assert torch.equal(batch.y, batch.x - 1)  # each target is the token before its input in the text


def test_evaluation_of_a_backward_model_reads_the_stream_reversed():
    torch.manual_seed(0)
    config = LMConfig(vocab_size=30, emb_dim=8, hidden_size=8, num_layers=1, direction="backward")
    back = RecurrentLM(config).eval()
    fwd = RecurrentLM(config.model_copy(update={"direction": "forward"})).eval()
    fwd.load_state_dict(back.state_dict())
    tokens = np.random.default_rng(0).integers(0, 30, 300).astype(np.int64)
    got = evaluate_tokens(back, tokens, 4, 16, characters=900, n_bytes=900, char_level=False)
    same = evaluate_tokens(fwd, tokens[::-1].copy(), 4, 16, characters=900, n_bytes=900, char_level=False)
    other = evaluate_tokens(fwd, tokens, 4, 16, characters=900, n_bytes=900, char_level=False)
    assert got["loss"] == pytest.approx(same["loss"], rel=1e-9)
    assert abs(got["loss"] - other["loss"]) > 1e-6  # (untrained: the two directions differ only a little)


def _line_config(tmp, **model) -> dict:
    (tmp / "train.txt").write_text((LINE + "\n") * 300, encoding="utf-8")
    (tmp / "valid.txt").write_text((LINE + "\n") * 20, encoding="utf-8")
    return {
        "data": {"train": str(tmp / "train.txt"), "valid": str(tmp / "valid.txt"), "level": "word",
                 "word": {"min_freq": 1, "max_size": 50}, "batch_size": 8, "bptt": 16, "reset_every": None},
        "model": {"cell": "lstm", "emb_dim": 16, "hidden_size": 32, "num_layers": 1, "direction": "backward",
                  "dropout_emb": 0.0, "dropout_out": 0.0, **model},
        "train": {"optimizer": {"lr": 0.02}, "max_steps": 150, "eval_every": 150, "log_every": 50,
                  "device": "cpu", "num_threads": 1, "tensorboard": False},
        "sample": {"prime": "seven eight", "length": 6, "temperature": 0},
    }


def _train(tmp, name: str, config: dict):
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with captured_logs() as logs:
        return train_lm(path, tmp / name, progress=False), logs


@pytest.fixture(scope="module")
def backward_run(tmp_path_factory):
    """A word LM trained right to left on one repeated line, until it knows the line by heart."""
    tmp = tmp_path_factory.mktemp("backward")
    return _train(tmp, "run", _line_config(tmp))


def test_backward_lm_learns_the_text_right_to_left(backward_run):
    result, logs = backward_run
    assert result.valid["ppl"] < 1.5  # the line is deterministic read either way
    assert any("backward (reads the text right to left)" in line for line in logs)
    # the training sample is the text before the prime, in reading order, then the prime
    assert result.sample == LINE
    model, _ = load_lm(result.run_dir)
    assert model.config.direction == "backward"


def test_backward_generation_writes_what_comes_before_the_prime(backward_run):
    result, _ = backward_run
    pieces = list(generate_text(result.run_dir, "five six", 4, temperature=0, with_prime=True))
    assert pieces == ["one two three four ", "five six"]
    assert list(generate_text(result.run_dir, "five six", 3, temperature=0)) == ["two three four "]
    assert list(generate_text(result.run_dir, "five six", 5, temperature=0))[0] == "\none two three four "


def test_backward_lm_on_the_forward_lms_frozen_embedding(tmp_path):
    config = _line_config(tmp_path, direction="forward")
    config["train"]["max_steps"] = 5
    fwd, _ = _train(tmp_path, "fwd", config)
    config["model"]["direction"] = "backward"
    back, logs = _train(tmp_path, "back", {**config, "embedding": {"from_lm": str(fwd.run_dir)}})
    assert any(f"embedding: copied from {fwd.run_dir}, frozen" in line for line in logs)
    (f, _), (b, _) = load_lm(fwd.run_dir), load_lm(back.run_dir)
    assert torch.equal(f.embedding.weight, b.embedding.weight)  # 5 steps later: still the forward LM's
    assert not torch.equal(f.rnn.weight_hh_l0, b.rnn.weight_hh_l0)


@pytest.mark.parametrize("change,message", [
    ({"data": {"word": {"min_freq": 1, "max_size": 6}}}, "codec \\(vocabulary\\) differs"),
    ({"model": {"emb_dim": 8}}, "emb_dim 16, this model's 8; set model.emb_dim=16"),
])
def test_embedding_from_another_lm_must_fit(tmp_path, change, message):
    config = _line_config(tmp_path, direction="forward")
    config["train"]["max_steps"] = 1
    fwd, _ = _train(tmp_path, "fwd", config)
    for key, value in change.items():
        config[key] = {**config[key], **value}
    with pytest.raises(ConfigError, match=message):
        _train(tmp_path, "other", {**config, "embedding": {"from_lm": str(fwd.run_dir)}})
