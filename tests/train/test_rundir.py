"""The run-directory lifecycle every task shares: start, refuse, resume checks."""

from __future__ import annotations

import json

import pytest

from textseq.config import StrictModel
from textseq.errors import ConfigError, TextseqError
from textseq.train.checkpoint import CheckpointError
from textseq.train.rundir import RUN_FILE, RunKind, config_changes, open_run_dir


class Data(StrictModel):
    path: str = "a.txt"
    batch: int = 4
    workers: int = 1


class Job(StrictModel):
    data: Data = Data()
    seed: int = 0
    lr: float = 0.1


KIND = RunKind(task="toy", name="toy", format_label="toy", format=2, command="textseq train-toy",
               fixed_on_resume=("data", "seed"), changeable=("data.workers",))
OTHER = RunKind(task="other", name="other", format_label="other", format=1, command="textseq train-other",
                fixed_on_resume=("data",))


def load_saved(path):
    import yaml

    return Job.model_validate(yaml.safe_load(path.read_text()))


def fake_checkpoint(run_dir):
    (run_dir / "step-000001").mkdir()
    (run_dir / "step-000001" / "trainer.json").write_text("{}")


def test_config_changes_are_dotted_and_complete():
    assert config_changes({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3, "d": 4}}, "x") == [
        "x.a.c (2 -> 3)", "x.a.d (None -> 4)"]
    assert config_changes(1, 1, "k") == []


def test_start_writes_run_json_and_config(tmp_path):
    run = open_run_dir(tmp_path / "run", Job(), KIND, resume=False, load_saved=load_saved)
    assert json.loads((run / RUN_FILE).read_text())["toy_format"] == 2
    assert load_saved(run / "config.yaml") == Job()


def test_resume_rules(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        open_run_dir(tmp_path / "empty", Job(), KIND, resume=True, load_saved=load_saved)
    run = open_run_dir(tmp_path / "run", Job(), KIND, resume=False, load_saved=load_saved)
    # stopped before its first checkpoint: both a resume and a new start begin it again
    open_run_dir(run, Job(), KIND, resume=True, load_saved=load_saved)
    open_run_dir(run, Job(data=Data(batch=8)), KIND, resume=False, load_saved=load_saved)
    assert load_saved(run / "config.yaml") == Job(data=Data(batch=8))
    open_run_dir(run, Job(), KIND, resume=False, load_saved=load_saved)
    fake_checkpoint(run)
    with pytest.raises(TextseqError, match=r"already holds checkpoints; resume it \(--resume\), start it over \(--force\)"):
        open_run_dir(run, Job(), KIND, resume=False, load_saved=load_saved)
    # train settings and the allowed data keys may change; the rest may not
    open_run_dir(run, Job(lr=0.01, data=Data(workers=3)), KIND, resume=True, load_saved=load_saved)
    with pytest.raises(ConfigError, match=r"changed: data.batch \(4 -> 8\)"):
        open_run_dir(run, Job(data=Data(batch=8)), KIND, resume=True, load_saved=load_saved)


def test_another_tasks_run_dir_is_refused(tmp_path):
    run = open_run_dir(tmp_path / "run", Job(), OTHER, resume=False, load_saved=load_saved)
    fake_checkpoint(run)
    with pytest.raises(CheckpointError, match="is not a toy run \\(task 'other'\\); expected one written by `textseq train-toy`"):
        open_run_dir(run, Job(), KIND, resume=True, load_saved=load_saved)
    info = KIND.info() | {"toy_format": 1}
    with pytest.raises(CheckpointError, match="toy format 1; this textseq .* reads toy format 2"):
        KIND.check_compatible(info, "run.json")
