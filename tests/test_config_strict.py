"""Configs and --set values from a hostile or careless hand: alias bombs, huge or deep files, values
of the wrong type. Each is one ConfigError naming the key and the file or --set that gave it."""

from __future__ import annotations

import shlex
import time
import tracemalloc

import pytest

from textseq.cli import main
from textseq.config import load_config
from textseq.errors import ConfigError
from textseq.lm.config import LMJobConfig, load_job_config
from textseq.presets import MAX_BYTES
from textseq.safeyaml import MAX_VALUES
from textseq.train.config import TrainConfig


def _bomb(levels: int = 9) -> str:
    """The 'billion laughs': each level is a list of nine aliases of the one before (9**levels leaves)."""
    lines = ["l0: &l0 [ha, ha, ha, ha, ha, ha, ha, ha, ha]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _refused_quickly(load) -> str:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as caught:
            load()
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0 and peak < 100e6, (elapsed, peak)
    return str(caught.value)


def test_an_alias_bomb_in_a_config_file_is_refused_fast(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text("train: {max_steps: 1}\n" + _bomb(), encoding="utf-8")
    assert len(path.read_bytes()) < 1000
    message = _refused_quickly(lambda: load_config(TrainConfig, path))
    assert message.startswith(f"{path}: refused") and "more than 100,000 values" in message and "alias" in message


def test_an_alias_bomb_in_a_set_value_is_refused_fast():
    value = "{" + _bomb().strip().replace("\n", ", ") + "}"
    message = _refused_quickly(lambda: load_job_config("char_lstm", [f"sample.prime={value}"]))
    assert message.startswith("--set sample.prime=") and "refused" in message


def test_shared_values_from_python_are_bounded_too():
    leaf: list = ["x"] * 10
    for _ in range(8):
        leaf = [leaf] * 10  # 10**9 values once expanded, a few kB as objects
    message = _refused_quickly(lambda: load_config(TrainConfig, data={"max_steps": 1, "huge": leaf}))
    assert f"more than {MAX_VALUES:,} values" in message


def test_a_moderate_use_of_aliases_still_works(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("max_steps: &n 7\neval_every: *n\noptimizer: &opt {lr: 0.01}\n", encoding="utf-8")
    cfg = load_config(TrainConfig, path)
    assert (cfg.max_steps, cfg.eval_every, cfg.optimizer.lr) == (7, 7, 0.01)


def test_recursive_aliases_and_deep_nesting_are_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("max_steps: 1\nloop: &a [1, *a]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"loop.yaml: refused: .*recursive"):
        load_config(TrainConfig, path)
    path.write_text("max_steps: " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"loop.yaml: refused: .*nested more than 100 levels"):
        load_config(TrainConfig, path)


def test_an_oversized_config_file_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("max_steps: 1\n")
        handle.write("# padding\n" * (MAX_BYTES // 10 + 10))
    with pytest.raises(ConfigError, match=rf"config file {path} is too large \(over 1,000,000 bytes"):
        load_config(TrainConfig, path)


def test_a_config_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("max_steps: 1\nmonitor: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=rf"config file {path} is not UTF-8 text"):
        load_config(TrainConfig, path)


@pytest.mark.parametrize("line, message", [
    ("hidden_size: true", "model.hidden_size: expected a whole number, got true (a boolean)"),
    ("hidden_size: 2.5", "model.hidden_size: Input should be a valid integer, got a number with a fractional part"),
    ("hidden_size: '64'", "model.hidden_size: expected a whole number, got the string '64'"),
    ("dropout_out: false", "model.dropout_out: expected a number, got false (a boolean)"),
])
def test_no_bool_to_int_nor_float_truncation_in_a_file(tmp_path, line, message):
    path = tmp_path / "lm.yaml"
    path.write_text("data: {train: a.txt, valid: b.txt}\ntrain: {max_steps: 1}\nmodel:\n  " + line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_job_config(path)
    assert str(caught.value) == f"{path}: {message}"


def test_types_inside_lists_and_of_flags_are_strict():
    with pytest.raises(ConfigError, match=r"^--set optimizer.betas=\[0.9, true\]: optimizer.betas: item 1: expected a number"):
        load_config(TrainConfig, data={"max_steps": 1}, overrides=["optimizer.betas=[0.9, true]"])
    with pytest.raises(ConfigError, match=r"^config: tensorboard: expected true or false, got 1$"):
        load_config(TrainConfig, data={"max_steps": 1, "tensorboard": 1})


def test_whole_floats_count_and_exponents_are_numbers(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("max_steps: 1e4\neval_every: 20.0\noptimizer: {lr: 1e-3, eps: 1E-8}\n", encoding="utf-8")
    cfg = load_config(TrainConfig, path, ["max_minutes=1e-05"])
    assert (cfg.max_steps, cfg.eval_every, cfg.optimizer.lr, cfg.optimizer.eps, cfg.max_minutes) == (10000, 20, 1e-3, 1e-8, 1e-5)
    assert isinstance(cfg.max_steps, int) and isinstance(cfg.eval_every, int)


def test_a_bad_set_value_names_the_set_not_the_file():
    with pytest.raises(ConfigError) as caught:
        load_job_config("char_lstm", ["train.max_steps=5", "model.hidden_size=true"])
    assert str(caught.value) == "--set model.hidden_size=true: model.hidden_size: expected a whole number, got true (a boolean)"


def test_the_file_is_named_when_the_set_values_are_fine(tmp_path):
    path = tmp_path / "lm.yaml"
    path.write_text("data: {train: a.txt, valid: b.txt}\ntrain: {max_steps: 1}\nsample: {length: yes}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}: sample.length: expected a whole number, got true"):
        load_job_config(path, ["sample.temperature=0.5"])


@pytest.mark.parametrize("typo, fix", [
    ("train.lr=1e-3", "train.optimizer.lr=1e-3"),
    ("trian.max_steps=3", "train.max_steps=3"),
    ("model.hiden_size=32", "model.hidden_size=32"),
    ("sample.prime=the movie", "'sample.prime=the movie'"),  # quoted, so the suggestion pastes as one argument
])
def test_a_set_typo_suggests_the_closest_key_as_a_valid_set(typo, fix):
    typo = typo.replace("sample.prime", "sample.primer")
    with pytest.raises(ConfigError) as caught:
        load_job_config("char_lstm", [typo])
    message = str(caught.value)
    key = typo.split("=")[0]
    assert message.startswith(f"--set {typo}: {key}: unknown key; did you mean --set {fix}")
    assert "char_lstm.yaml" not in message
    fixed = load_job_config("char_lstm", [shlex.split(fix)[0]])  # the suggestion works as given
    assert isinstance(fixed, LMJobConfig)


def test_the_command_line_reports_a_set_typo_in_one_line(tmp_path, capsys):
    assert main(["train-lm", "-c", "char_lstm", "-o", str(tmp_path / "run"), "--set", "train.lr=1e-3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("textseq: error: --set train.lr=1e-3: train.lr: unknown key; did you mean "
                   "--set train.optimizer.lr=1e-3?")
    assert not (tmp_path / "run").exists()


def test_an_unknown_key_in_a_file_names_the_file_and_the_closest_key(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("max_steps: 1\noptimizer: {lrr: 0.1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}: optimizer.lrr: unknown key; valid keys here: .*\(did you mean optimizer.lr\?\)$"):
        load_config(TrainConfig, path)
