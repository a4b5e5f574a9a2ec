"""A run that is interrupted (cleanly or by SIGKILL) and resumed repeats the uninterrupted run exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.train.tiny import make_lm_trainer
from textseq.train.metrics import read_metrics

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


def losses(run_dir: Path, split: str = "train") -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(run_dir) if r["split"] == split}


def params(trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize("accumulate", [1, 2])
def test_resume_after_max_steps_repeats_the_uninterrupted_run(tmp_path: Path, accumulate: int) -> None:
    ref = make_lm_trainer(tmp_path / "ref", accumulate=accumulate)
    ref.fit()
    # Stop at step 10 (mid-epoch, not a checkpoint_every multiple: the final checkpoint covers it).
    make_lm_trainer(tmp_path / "run", accumulate=accumulate, max_steps=10).fit()
    resumed = make_lm_trainer(tmp_path / "run", accumulate=accumulate)
    assert resumed.resume().name == "step-000010"
    result = resumed.fit()

    assert result.step == 24 and result.epoch >= 2  # crossed epoch boundaries after the resume
    want, got = losses(tmp_path / "ref"), losses(tmp_path / "run")
    assert list(want) == list(range(1, 25))
    assert got == want  # exactly: dropout RNG, data position and carried state were all restored
    valid_want = losses(tmp_path / "ref", "valid")
    valid_got = {s: v for s, v in losses(tmp_path / "run", "valid").items() if s != 10}  # 10 = the stop's final eval
    assert valid_got == valid_want
    for name, value in params(ref).items():
        assert torch.equal(params(resumed)[name], value), name


def test_resume_after_sigkill_repeats_the_uninterrupted_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "tests.train.tiny", str(run)]
    child = subprocess.Popen([*cmd, "--sleep", "0.15"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        make_lm_trainer(tmp_path / "ref").fit()  # the reference run, while the child trains
        deadline = time.monotonic() + 90
        while not (run / "step-000009").exists():
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.01)
        assert child.poll() is None, "the child finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    killed_at = max(losses(run))
    assert 9 <= killed_at < 24

    out = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    resumed_from = int(out.stdout.split("resumed from step-")[1].split()[0])
    assert 9 <= resumed_from <= killed_at
    assert "done 24 max_steps" in out.stdout
    assert losses(run) == losses(tmp_path / "ref")
