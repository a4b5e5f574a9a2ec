"""grad-probe and plot commands, and the time-budgeted cosine schedule."""

from __future__ import annotations

import pytest

import re

from textseq.cli import main


def _ratios(out: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\w+)\S*.*?= (\S+)$", out, re.M)}


def test_grad_probe_fresh_cells(tmp_path, capsys):
    png = tmp_path / "probe.png"
    assert main(["grad-probe", "--cell", "rnn", "--cell", "lstm", "--length", "60", "-o", str(png)]) == 0
    ratios = _ratios(capsys.readouterr().out)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # with PyTorch's init the tanh RNN's gradient vanishes over 60 steps; the LSTM's cell state carries it further
    assert ratios["rnn"] < 1e-3 * ratios["lstm"], ratios
    assert main(["grad-probe", "--cell", "rnn", "--init", "textseq", "--length", "60", "-o", str(png), "--force"]) == 0
    assert _ratios(capsys.readouterr().out)["rnn"] > 1e-3  # orthogonal recurrent weights keep it alive at init


def test_grad_probe_and_plot_of_a_run(char_run, tmp_path, capsys):
    png = tmp_path / "run_probe.png"
    assert main(["grad-probe", str(char_run), "--length", "20", "-o", str(png)]) == 0
    assert png.is_file() and "lstm" in capsys.readouterr().out
    assert main(["plot", str(char_run), "-o", str(tmp_path / "plots")]) == 0
    names = {p.name for p in (tmp_path / "plots").iterdir()}
    assert {"loss.png", "bpc.png", "bpc_vs_minutes.png"} <= names


def test_time_budget_cosine_decays_by_the_deadline(tmp_path):
    from textseq.lm import train_lm
    from textseq.lm.config import load_job_config
    from textseq.train.metrics import read_metrics

    from .conftest import tiny_config

    config = load_job_config(tiny_config(tmp_path), ["train.max_steps=null", "train.max_minutes=0.03", "train.eval_every=100000",
                                                     "train.schedule.name=cosine", "train.schedule.min_lr=0.0", "sample.length=0"])
    train_lm(config, tmp_path / "run")
    lrs = [r["lr"] for r in read_metrics(tmp_path / "run") if r["split"] == "train"]
    assert len(lrs) > 10 and lrs[-1] < 0.3 * max(lrs)


def test_train_lm_takes_callbacks_and_excluded_time_leaves_the_budget(tmp_path):
    from textseq.lm import train_lm
    from textseq.lm.config import load_job_config
    from textseq.train.callbacks import Callback

    from .conftest import tiny_config

    class Probe(Callback):
        """Counts steps; at step 2 excludes 60 s of 'its own work' from the trainer's clock."""

        def __init__(self) -> None:
            self.steps: list[int] = []
            self.clock: list[float] = []

        def on_step_end(self, trainer, step, logs):
            self.steps.append(step)
            if step == 2:
                before = trainer.run_seconds()
                trainer.exclude_time(60.0)
                self.clock = [before, trainer.run_seconds()]

    probe = Probe()
    # The excluded minute moves the clock back: the run still ends by max_steps, not by the budget.
    config = load_job_config(tiny_config(tmp_path), ["train.max_steps=5", "train.max_minutes=0.5", "sample.length=0"])
    result = train_lm(config, tmp_path / "run", callbacks=[probe])
    assert probe.steps == [1, 2, 3, 4, 5]
    assert probe.clock[1] == pytest.approx(probe.clock[0] - 60.0, abs=0.5)
    assert result.fit.stop_reason == "max_steps"
