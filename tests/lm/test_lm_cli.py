"""The language-modelling job end to end through `textseq.cli.main`: train, evaluate, generate, resume."""

from __future__ import annotations

import json
import math

import pytest

from textseq.cli import main
from textseq.train.checkpoint import list_checkpoints
from textseq.train.metrics import read_metrics

from .conftest import play_text, tiny_config


def test_run_dir_layout(char_run):
    assert (char_run / "config.yaml").is_file() and (char_run / "codec.json").is_file()
    assert [p.name for p in list_checkpoints(char_run)] == ["step-000003", "step-000006"]
    assert (char_run / "best" / "model.safetensors").is_file()
    extra = json.loads((char_run / "step-000006" / "extra.json").read_text())
    assert extra["task"] == "lm" and extra["codec"]["codec"] == "chars" and extra["config"]["data"]["level"] == "char"
    assert extra["model_config"]["vocab_size"] == len(extra["codec"]["vocab"]["tokens"])
    valid = [r for r in read_metrics(char_run) if r["split"] == "valid"]
    assert [r["step"] for r in valid] == [3, 6]
    assert all(r["bpc"] == pytest.approx(r["loss"] / math.log(2)) for r in valid)
    assert (char_run / "sample.txt").read_text().startswith("KING:")


def test_eval_lm_prints_json_with_char_bpc(char_run, capsys):
    assert main(["eval-lm", str(char_run), "-i", str(char_run.parent / "valid.txt")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"tokens", "characters", "loss", "perplexity", "bpc", "bits_per_byte"}
    assert result["bpc"] == pytest.approx(result["loss"] / math.log(2))
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))
    text = (char_run.parent / "valid.txt").read_text()
    assert text.endswith("\n") and result["characters"] == len(text)  # each line and its line break
    assert result["tokens"] == result["characters"] - 1  # every character but the first is predicted
    assert 1.0 < result["bpc"] < 8.0


def test_greedy_generation_is_repeatable_and_streams(char_run, capsys):
    args = ["generate", str(char_run), "--prime", "KING:", "--length", "40", "--temperature", "0"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args + ["--seed", "3"]) == 0
    assert capsys.readouterr().out == first
    assert first.startswith("KING:") and len(first) == len("KING:") + 40 + 1

    from textseq.lm import generate_text

    pieces = generate_text(char_run, "KING:", length=10**9, temperature=1.0, seed=0)  # would take hours if not lazy
    assert isinstance(next(pieces), str) and isinstance(next(pieces), str)


def test_resume_extends_the_run(run_copy, capsys):
    assert main(["train-lm", "-o", str(run_copy), "--resume", "--set", "train.max_steps=9", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert "resumed from step-000006 (step 6" in captured.err and captured.out == ""  # messages on stderr only
    assert list_checkpoints(run_copy)[-1].name == "step-000009"
    steps = [r["step"] for r in read_metrics(run_copy) if r["split"] == "train"]
    assert steps == list(range(1, 10))  # continued at step 7, nothing repeated or lost


def test_resume_refuses_a_changed_model(run_copy, capsys):
    code = main(["train-lm", "-o", str(run_copy), "--resume", "--set", "model.hidden_size=32", "--set", "train.max_steps=9"])
    assert code == 2
    assert "model.hidden_size (16 -> 32)" in capsys.readouterr().err


def test_existing_run_needs_resume(char_run, capsys):
    assert main(["train-lm", "-c", str(char_run.parent / "char.yaml"), "-o", str(char_run)]) == 2
    assert "already holds checkpoints" in capsys.readouterr().err


@pytest.mark.parametrize("level, options", [
    ("subword", {"subword": {"vocab_size": 60, "model_type": "unigram"}}),
    ("word", {"word": {"min_freq": 1, "max_size": 200}}),
])
def test_subword_and_word_levels(tmp_path, capsys, level, options):
    config = tiny_config(tmp_path, level, data=options, train={"max_steps": 3, "eval_every": 3})
    run_dir = tmp_path / "run"
    assert main(["train-lm", "-c", str(config), "-o", str(run_dir), "--no-progress"]) == 0
    assert "validation bpc" in capsys.readouterr().err
    assert main(["eval-lm", str(run_dir), "-i", str(tmp_path / "valid.txt")]) == 0
    r = json.loads(capsys.readouterr().out)
    # bits per character of the text, not per token: total nats over ln 2 * characters
    assert r["bpc"] == pytest.approx(r["loss"] * r["tokens"] / (math.log(2) * r["characters"]))
    assert r["tokens"] < r["characters"] - 1
    assert main(["generate", str(run_dir), "--prime", "KING:", "--length", "12", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("KING:")
    if level == "word":  # the first generated word is not glued onto the prime
        assert main(["generate", str(run_dir), "--prime", "the king", "--length", "5", "--seed", "0",
                     "--temperature", "0"]) == 0
        text = capsys.readouterr().out
        assert text.startswith("the king") and text[len("the king")] in " \n"


def test_subword_codec_is_lossless_and_checkpoint_stands_alone(tmp_path):
    from textseq.lm import load_lm

    config = tiny_config(tmp_path, "subword", data={"subword": {"vocab_size": 60}}, train={"max_steps": 3})
    assert main(["train-lm", "-c", str(config), "-o", str(tmp_path / "run"), "--no-progress"]) == 0
    (tmp_path / "run" / "subword.model").unlink()  # the checkpoint carries its own copy
    model, codec = load_lm(tmp_path / "run" / "step-000003")
    text = play_text(300, seed=5)
    assert codec.decode(codec.encode(text)) == text


def test_unseen_characters_map_to_unk_and_are_reported(char_run, tmp_path, capsys):
    odd = tmp_path / "odd.txt"
    odd.write_text("KING: the Zebra é the king\n", encoding="utf-8")
    assert main(["eval-lm", str(char_run), "-i", str(odd)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["tokens"] > 0
    assert "2 token(s) unseen in training mapped to unk" in captured.err and "'é' (1)" in captured.err
    assert main(["generate", str(char_run), "--prime", "Zé", "--length", "5", "--seed", "0"]) == 0
    assert "prime: 2 token(s) unseen in training mapped to unk" in capsys.readouterr().err


def test_unseen_characters_without_unk_are_named(char_run, tmp_path):
    from textseq.errors import InputError
    from textseq.lm import evaluate_lm, generate_text, load_lm
    from textseq.codecs import CharCodec
    from textseq.vocab import Vocab

    model, codec = load_lm(char_run)
    no_unk = CharCodec(Vocab([t for t in codec.vocab.itos if t != "\ufffd"] + ["\ufffd"]))  # same size, no unk role
    with pytest.raises(InputError, match=r"no unk: 'Z', 'é'"):
        next(generate_text(model, "KING Zé", 5, codec=no_unk))
    odd = tmp_path / "odd.txt"
    odd.write_text("the Zebra é\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no unk: 'Z', 'é'"):
        evaluate_lm(model, str(odd), codec=no_unk)


def test_generate_reads_its_prime_from_a_file_or_standard_input(char_run, tmp_path):
    import subprocess
    import sys

    (tmp_path / "prime.txt").write_text("KING:\n", encoding="utf-8")
    from_file = subprocess.run([sys.executable, "-m", "textseq", "generate", str(char_run), "--prime-file",
                                str(tmp_path / "prime.txt"), "--length", "8", "--seed", "3"], capture_output=True, text=True)
    piped = subprocess.run([sys.executable, "-m", "textseq", "generate", str(char_run), "--prime-file", "-", "--length", "8",
                            "--seed", "3"], input="KING:\n", capture_output=True, text=True)
    typed = subprocess.run([sys.executable, "-m", "textseq", "generate", str(char_run), "--prime", "KING:", "--length", "8",
                            "--seed", "3"], capture_output=True, text=True)
    assert from_file.returncode == piped.returncode == typed.returncode == 0, from_file.stderr
    assert from_file.stdout == piped.stdout == typed.stdout and typed.stdout.startswith("KING:")


@pytest.mark.parametrize("option", [["--length", "-1"], ["--temperature", "-0.5"], ["--top-k", "0"], ["--top-p", "1.5"],
                                    ["--temperature", "nan"]])
def test_generate_refuses_bad_numbers_with_a_usage_error(char_run, option, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", str(char_run), *option])
    assert exit_.value.code == 2 and "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("signame, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_an_interrupt_saves_a_checkpoint_and_says_how_to_resume(tmp_path, signame, code):
    import signal
    import subprocess
    import sys
    import time

    config = tiny_config(tmp_path, train={"max_steps": 100000, "eval_every": 100000, "checkpoint_every": 100000})
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "textseq", "train-lm", "-c", str(config), "-o", str(run_dir),
                             "--no-progress"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (run_dir / "metrics.jsonl").is_file():
        time.sleep(0.05)
    time.sleep(0.5)  # some steps, no checkpoint yet (checkpoint_every is far away)
    assert not list_checkpoints(run_dir)
    proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    saved = list_checkpoints(run_dir)
    assert len(saved) == 1 and f"-o {run_dir} --resume" in err and "Traceback" not in err
    stopped_at = int(saved[0].name.split("-")[1])
    assert main(["train-lm", "-o", str(run_dir), "--resume", "--max-steps", str(stopped_at + 3), "--no-progress"]) == 0
    steps = [r["step"] for r in read_metrics(run_dir) if r["split"] == "train"]
    assert steps == list(range(1, stopped_at + 4))  # nothing repeated or lost across the interrupt
