"""Bad input gives one clear line from the CLI, never a traceback."""

from __future__ import annotations

import hashlib
import json

import yaml

from textseq.cli import main

from .conftest import tiny_config


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "textseq: error:" in err  # progress notes may come first
    message = err[err.index("textseq: error:"):].strip()
    assert "\n" not in message  # one line
    return message


def test_corpus_shorter_than_one_window(tmp_path, capsys):
    config = tiny_config(tmp_path)
    (tmp_path / "train.txt").write_text("KING: so short\n" * 5, encoding="utf-8")
    assert main(["train-lm", "-c", str(config), "-o", str(tmp_path / "run")]) == 2
    err = _error(capsys)
    assert "too short: 75 tokens" in err and "needs at least 83" in err
    assert "smaller batch_size/bptt" in err and "--set data.batch_size=" in err


def test_empty_corpus(tmp_path, capsys):
    config = tiny_config(tmp_path)
    (tmp_path / "train.txt").write_text("\n  \n", encoding="utf-8")
    assert main(["train-lm", "-c", str(config), "-o", str(tmp_path / "run")]) == 2
    assert "is empty" in _error(capsys)


def test_wrong_config_key_is_named_with_the_valid_ones(tmp_path, capsys):
    config = tiny_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["model"]["hiden_size"] = 3
    config.write_text(yaml.safe_dump(data))
    assert main(["train-lm", "-c", str(config), "-o", str(tmp_path / "run")]) == 2
    err = _error(capsys)
    assert f"{config}: model.hiden_size: unknown key" in err and "hidden_size" in err and "num_layers" in err
    del data["model"]["hiden_size"]
    config.write_text(yaml.safe_dump(data))
    assert main(["train-lm", "-c", str(config), "-o", str(tmp_path / "run"), "--set", "model.vocab_size=9"]) == 2
    assert "model.vocab_size: unknown key" in _error(capsys)


def test_corrupt_checkpoint(run_copy, capsys):
    weights = run_copy / "best" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    assert main(["generate", str(run_copy), "--length", "5"]) == 2
    assert "truncated or corrupt" in _error(capsys)
    assert main(["eval-lm", str(run_copy), "-i", str(run_copy.parent / "x"), "--checkpoint", "best"]) == 2
    _error(capsys)


def _rewrite_extra(ckpt, **changes) -> None:
    """Change extra.json and keep trainer.json's manifest consistent (an intact checkpoint of another version)."""
    path = ckpt / "extra.json"
    extra = {**json.loads(path.read_text()), **changes}
    path.write_text(json.dumps(extra))
    meta = json.loads((ckpt / "trainer.json").read_text())
    meta["files"]["extra.json"] = {"bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    (ckpt / "trainer.json").write_text(json.dumps(meta))


def test_incompatible_version(run_copy, capsys):
    ckpt = run_copy / "step-000006"
    _rewrite_extra(ckpt, lm_format=99, textseq_version="9.0.0")
    assert main(["generate", str(ckpt), "--length", "5"]) == 2
    err = _error(capsys)
    assert "textseq 9.0.0 with LM format 99" in err and "reads LM format 1" in err
    meta = json.loads((ckpt / "trainer.json").read_text())
    meta["format_version"] = 99
    (ckpt / "trainer.json").write_text(json.dumps(meta))
    assert main(["eval-lm", str(ckpt), "-i", "whatever.txt"]) == 2
    assert "format_version 99" in _error(capsys)


def test_not_a_run_dir(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "nope"), "--length", "5"]) == 2
    assert "not found" in _error(capsys)
