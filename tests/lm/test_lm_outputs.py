"""Run directories: a run writes only inside its directory, never through a planted symbolic link,
and never over another run or the user's files without --force (or --resume)."""

from __future__ import annotations

import json
import shutil

import pytest

from textseq.cli import main
from textseq.train.checkpoint import list_checkpoints

from .conftest import tiny_config


def stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_resume_replaces_linked_config_and_reports(run_copy, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("config.yaml", "run.json", "sample.txt", "report.json"):  # the resume reads the first two
        shutil.copy(run_copy / name, outside / name)
        (run_copy / name).unlink()
        (run_copy / name).symlink_to(outside / name)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    assert main(["train-lm", "-o", str(run_copy), "--resume", "--max-steps", "8", "--no-progress", "-q",
                 "--set", "train.eval_every=4"]) == 0
    for name, data in before.items():
        assert (outside / name).read_bytes() == data  # the target outside the run is untouched
        assert not (run_copy / name).is_symlink()
    assert "eval_every: 4" in (run_copy / "config.yaml").read_text(encoding="utf-8")
    assert json.loads((run_copy / "report.json").read_text(encoding="utf-8"))["step"] == 8


@pytest.mark.parametrize("name", ["metrics.jsonl", "latest", "codec.json"])
def test_resume_refuses_a_linked_run_file(run_copy, tmp_path, capsys, name):
    outside = tmp_path / "elsewhere"
    outside.write_text("mine\n", encoding="utf-8")
    (run_copy / name).unlink()
    (run_copy / name).symlink_to(outside)
    assert main(["train-lm", "-o", str(run_copy), "--resume", "--max-steps", "8", "--no-progress"]) == 2
    (line,) = stderr_lines(capsys)
    assert f"{name} is a symbolic link" in line
    assert outside.read_text(encoding="utf-8") == "mine\n"
    assert [p.name for p in list_checkpoints(run_copy)][-1] == "step-000006"


def test_a_run_with_checkpoints_needs_resume_or_force(run_copy, tmp_path, capsys):
    config = tiny_config(tmp_path)
    argv = ["train-lm", "-c", str(config), "-o", str(run_copy), "--no-progress", "-q"]
    assert main(argv) == 2
    (line,) = stderr_lines(capsys)
    assert str(run_copy) in line and "--resume" in line and "--force" in line
    assert main([*argv, "--resume", "--force"]) == 2
    assert "give one of them" in stderr_lines(capsys)[0]
    # --force starts over: the old checkpoints and metrics go, the run trains from step 0
    assert main([*argv, "--force", "--max-steps", "3"]) == 0
    assert [p.name for p in list_checkpoints(run_copy)] == ["step-000003"]
    steps = [json.loads(r)["step"] for r in (run_copy / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 3


def test_a_non_empty_directory_that_is_no_run_needs_force(tmp_path, capsys):
    config = tiny_config(tmp_path)
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("my notes\n", encoding="utf-8")
    argv = ["train-lm", "-c", str(config), "-o", str(target), "--no-progress", "-q", "--max-steps", "2"]
    assert main(argv) == 2
    (line,) = stderr_lines(capsys)
    assert str(target) in line and "not empty" in line and "--force" in line
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    assert main([*argv, "--force"]) == 0
    assert (target / "notes.txt").read_text(encoding="utf-8") == "my notes\n"
    assert list_checkpoints(target)
    (tmp_path / "file").write_text("x")
    assert main(["train-lm", "-c", str(config), "-o", str(tmp_path / "file")]) == 2
    assert "is a file" in stderr_lines(capsys)[0]


def test_a_run_stopped_before_its_first_checkpoint_restarts(run_copy, tmp_path, caplog):
    for p in [*list_checkpoints(run_copy), run_copy / "best"]:
        shutil.rmtree(p)
    for name in ("latest", "metrics.jsonl", "report.json", "sample.txt"):
        (run_copy / name).unlink()
    assert (run_copy / "data").is_dir() and (run_copy / "run.json").is_file()
    caplog.set_level("INFO")
    assert main(["train-lm", "-o", str(run_copy), "--resume", "--max-steps", "3", "--no-progress"]) == 0
    assert "has no checkpoint yet" in caplog.text and "reusing the encoded data" in caplog.text
    assert [p.name for p in list_checkpoints(run_copy)] == ["step-000003"]


def test_a_directory_of_prepared_data_alone_is_taken_as_a_run(run_copy, tmp_path, caplog):
    shutil.copy(run_copy / "config.yaml", tmp_path / "job.yaml")
    for p in run_copy.iterdir():
        if p.name not in ("data", "codec.json"):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    caplog.set_level("INFO")
    assert main(["train-lm", "-c", str(tmp_path / "job.yaml"), "-o", str(run_copy), "--max-steps", "2",
                 "--no-progress"]) == 0
    assert "reusing the encoded data" in caplog.text
