"""The task seam: run_job trains any Task, load_run opens any run; a third task is a class plus one
TASKS line, and the language model and the classifier go through the same two functions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pytest
import torch

from textseq.config import StrictModel, load_config
from textseq.errors import ConfigError
from textseq.runs import TASKS, load_run
from textseq.train.checkpoint import CheckpointError
from textseq.train.config import TrainConfig
from textseq.train.job import Built, Loaded, run_job
from textseq.train.rundir import RunKind

from .tiny import ListBatches, TinyClassifier, classifier_batches


class ToyConfig(StrictModel):
    seed: int = 0
    dim: int = 8
    train: TrainConfig = TrainConfig(max_steps=6, eval_every=3, log_every=1, device="cpu", num_threads=1,
                                     tensorboard=False)


class ToyTask:
    """A third task in a dozen lines: classify token windows by their first token."""

    kind = RunKind(task="toy", name="toy", format_label="toy", format=1, command="toy", fixed_on_resume=("dim",))
    config_model = ToyConfig
    valid_metrics = ("loss", "accuracy")

    def load_config(self, source: Any, overrides: Sequence[str] = ()) -> ToyConfig:
        return load_config(ToyConfig, source, overrides)

    def prepare(self, config: ToyConfig, run_dir: Path) -> list[dict[str, torch.Tensor]]:
        return classifier_batches(n=6)

    def build(self, config: ToyConfig, data: Any, run_dir: Path) -> Built:
        from textseq.train.metrics import evaluate_batches

        model = TinyClassifier(dim=config.dim)
        extra = {**self.kind.info(), "config": config.model_dump(mode="json")}
        return Built(model, ListBatches(data), lambda m: evaluate_batches(m, data), extra, f"toy model, dim {config.dim}")

    def report(self, config: ToyConfig, data: Any, model: Any, fit: Any, run_dir: Path) -> dict[str, Any]:
        from textseq.train.metrics import evaluate_batches

        return {"valid": evaluate_batches(model, data)}

    def load(self, extra: dict[str, Any], path: Path, device: str) -> Loaded:
        from safetensors.torch import load_model

        model = TinyClassifier(dim=extra["config"]["dim"])
        load_model(model, str(path / "model.safetensors"))
        return Loaded(model, codec=None, labels=["0", "1", "2"])


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(TASKS, "toy", f"{__name__}:ToyTask")


def test_a_third_task_trains_reports_and_loads_through_the_seam(tmp_path, toy_registered):
    config = tmp_path / "toy.yaml"
    config.write_text("dim: 6\n", encoding="utf-8")
    job = run_job(ToyTask(), config, tmp_path / "run", overrides=["train.max_steps=4", "train.eval_every=2"], progress=False)
    assert job.fit.step == 4 and job.fit.stop_reason == "max_steps"
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["task"] == "toy" and saved["step"] == 4 and saved["valid"] == pytest.approx(job.report["valid"])
    assert json.loads((tmp_path / "run" / "run.json").read_text())["task"] == "toy"
    assert "dim: 6" in (tmp_path / "run" / "config.yaml").read_text()

    run = load_run(tmp_path / "run")
    assert run.task == "toy" and isinstance(run.config, ToyConfig) and run.config.dim == 6
    assert run.path.name == "best" and run.labels == ["0", "1", "2"] and not run.model.training
    trained = job.fit.last_checkpoint
    from safetensors.torch import load_file

    for name, tensor in load_file(str(trained / "model.safetensors")).items():  # the best step is the last here
        torch.testing.assert_close(run.model.state_dict()[name], tensor, atol=0, rtol=0)


def test_resuming_a_job_continues_it(tmp_path, toy_registered):
    config = tmp_path / "toy.yaml"
    config.write_text("dim: 6\n", encoding="utf-8")
    run_job(ToyTask(), config, tmp_path / "run", overrides=["train.max_steps=3"], progress=False)
    job = run_job(ToyTask(), config, tmp_path / "run", resume=True, overrides=["train.max_steps=5"], progress=False)
    assert job.fit.step == 5
    with pytest.raises(ConfigError, match=r"dim \(6 -> 7\)"):
        run_job(ToyTask(), config, tmp_path / "run", resume=True, overrides=["dim=7", "train.max_steps=6"], progress=False)


def test_unknown_task_names_the_known_ones():
    from textseq.runs import get_task

    with pytest.raises(ConfigError, match=r"unknown task 'lmm' \(did you mean 'lm'\?\); valid: classify, ensemble, lm, ngram"):
        get_task("lmm")


def test_a_second_writer_stops_at_once_naming_the_holder_and_a_dead_holder_blocks_nothing(tmp_path, toy_registered):
    import subprocess
    import sys
    import time

    from textseq.errors import TextseqError

    config = tmp_path / "toy.yaml"
    config.write_text("dim: 6\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(run_dir / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.write(fd, str(os.getpid()).encode())\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(TextseqError, match=rf"in use by another training process \(pid {holder.pid}\)"):
            run_job(ToyTask(), config, run_dir, progress=False)
        assert time.monotonic() - started < 5  # at once, not after a wait
        assert not (run_dir / "config.yaml").exists()  # the holder's run directory was left alone
    finally:
        holder.kill()
        holder.wait()
    job = run_job(ToyTask(), config, run_dir, overrides=["train.max_steps=2"], progress=False)  # the lock died with it
    assert job.fit.step == 2


def test_a_symlinked_lock_file_is_refused_not_followed(tmp_path, toy_registered):
    from textseq.errors import TextseqError

    outside = tmp_path / "outside.txt"
    outside.write_text("keep me", encoding="utf-8")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").symlink_to(outside)
    config = tmp_path / "toy.yaml"
    config.write_text("dim: 6\n", encoding="utf-8")
    with pytest.raises(TextseqError, match="cannot lock"):
        run_job(ToyTask(), config, tmp_path / "run", progress=False)
    assert outside.read_text() == "keep me"


def test_resuming_a_missing_run_directory_creates_nothing(tmp_path, toy_registered):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        run_job(ToyTask(), ToyConfig(), tmp_path / "missing", resume=True, progress=False)
    assert not (tmp_path / "missing").exists()
