"""The cells of the modern view (mingru, minlstm, lstm_ln, ode_rnn) and residual blocks through the real
commands: train-lm, generate, eval-lm, exact resume, grad-probe, the presets; bf16 autocast; transfer."""

from __future__ import annotations

import json
import re

import pytest
import torch

from textseq.cli import main
from textseq.models.lm import LMConfig, RecurrentLM
from textseq.runs import load_run

from .conftest import tiny_config

NEW = ["mingru", "minlstm", "lstm_ln", "ode_rnn"]


@pytest.mark.parametrize("model", [{"cell": c} for c in NEW] + [
    {"cell": "mingru", "block": "residual", "num_layers": 2, "norm": "rmsnorm"},
    {"cell": "ode_rnn", "ode_steps": 2, "dt": 0.5, "block": "residual", "num_layers": 2}],
    ids=NEW + ["mingru-residual", "ode_rnn-residual"])
def test_train_generate_eval(tmp_path, capsys, model):
    config = tiny_config(tmp_path, model=model, train={"max_steps": 4, "eval_every": 4})
    run = tmp_path / "run"
    assert main(["train-lm", "-c", str(config), "-o", str(run), "--no-progress", "-q"]) == 0
    loaded = load_run(run)
    assert loaded.model.config.cell == model["cell"]
    assert loaded.model.config.block == model.get("block", "stack")
    capsys.readouterr()
    assert main(["generate", str(run), "--prime", "KING:", "--length", "30", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("KING:") and len(text) == len("KING:") + 30 + 1
    assert main(["eval-lm", str(run), "-i", str(tmp_path / "valid.txt")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.5 < result["bpc"] < 8.0


@pytest.mark.parametrize("model", [{"cell": "mingru", "num_layers": 2},
                                   {"cell": "lstm_ln", "block": "residual", "num_layers": 2}], ids=["mingru", "lstm_ln-res"])
def test_resume_repeats_the_uninterrupted_run(tmp_path, model):
    config = tiny_config(tmp_path, model=model, train={"max_steps": 6, "eval_every": 3})
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["train-lm", "-c", str(config), "-o", str(whole), "--no-progress", "-q"]) == 0
    assert main(["train-lm", "-c", str(config), "-o", str(part), "--max-steps", "3", "--no-progress", "-q"]) == 0
    assert main(["train-lm", "-o", str(part), "--resume", "--max-steps", "6", "--no-progress", "-q"]) == 0
    a, b = load_run(whole, "latest").model.state_dict(), load_run(part, "latest").model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("preset", ["char_mingru", "char_mingru_res"])
def test_presets_train_on_tiny_text(tmp_path, preset):
    tiny_config(tmp_path)  # writes train.txt / valid.txt
    run = tmp_path / "run"
    assert main(["train-lm", "-c", preset, "-o", str(run), "--set", f"data.train={tmp_path / 'train.txt'}",
                 "--set", f"data.valid={tmp_path / 'valid.txt'}", "--set", "data.test=null", "--set", "model.hidden_size=16",
                 "--set", "data.bptt=16", "--set", "data.batch_size=4", "--set", "sample.length=5",
                 "--max-steps", "2", "--no-progress", "-q"]) == 0
    assert load_run(run).model.config.cell == "mingru"


def test_grad_probe_plots_the_new_cells(tmp_path, capsys):
    png = tmp_path / "probe.png"
    assert main(["grad-probe", "--cell", "mingru", "--cell", "minlstm", "--cell", "lstm_ln", "--length", "30",
                 "--hidden-size", "16", "-o", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert {"mingru", "minlstm", "lstm_ln"} <= set(re.findall(r"^(\w+):", capsys.readouterr().out, re.M))


def test_mingru_gradient_through_time_is_the_product_of_its_gates():
    """dh_t/dh_{t-1} = 1 - z_t: no weight matrix, no tanh. With z near 0.5 (a fresh cell) the gradient halves
    every step like a fresh tanh RNN's; with gates set to remember it survives the whole window."""
    from textseq.lm.probe import fresh_model, gradient_probe, probe_windows, ratio

    windows = probe_windows(None, 30, 60)
    model = fresh_model("mingru", 30, hidden_size=16)
    fresh = ratio(gradient_probe(model, windows))
    with torch.no_grad():
        model.rnn.bias_ih_l0[:16] = -4.0  # z = sigmoid(-4 + ...) ~ 0.02: 1 - z ~ 0.98
    remembering = ratio(gradient_probe(model, windows))
    rnn = ratio(gradient_probe(fresh_model("rnn", 30, hidden_size=16), windows))
    assert fresh < 1e-10 and rnn < 1e-10, (fresh, rnn)
    assert remembering > 1e-2, remembering


@pytest.mark.parametrize("cell,block", [("mingru", "stack"), ("minlstm", "residual"), ("lstm_ln", "stack")])
def test_bf16_autocast_step_is_finite_and_trains(cell, block):
    torch.manual_seed(0)
    model = RecurrentLM(LMConfig(vocab_size=30, cell=cell, block=block, emb_dim=8, hidden_size=16, num_layers=2))
    x = torch.randint(0, 30, (2, 40))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.step((x[:, :-1], x[:, 1:]))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    state = out.state[0] if isinstance(out.state, tuple) else out.state
    assert state.shape == (2, 2, 16)
