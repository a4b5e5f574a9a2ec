"""Gradient diagnostics: per-layer norms and gradient flow through time."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.train.tiny import TinyLM
from textseq.errors import ConfigError
from textseq.train.diagnostics import grad_norms_by_layer, grad_through_time, layer_group, unroll_model, unroll_recurrence

torch.set_num_threads(1)
B, T, D, H = 4, 30, 8, 32


def small_init(module: nn.Module, std: float = 0.05) -> nn.Module:
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.normal_(0, std) if "weight" in name else p.zero_()
    return module


def test_tanh_rnn_gradient_vanishes_but_lstm_with_forget_bias_keeps_it() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(B, T, D), torch.randint(0, 5, (B,))
    head = nn.Linear(H, 5)
    rnn = small_init(nn.RNN(D, H, batch_first=True, nonlinearity="tanh"))
    lstm = small_init(nn.LSTM(D, H, batch_first=True))
    with torch.no_grad():
        lstm.bias_ih_l0[H : 2 * H] = 1.0  # gate order i, f, g, o: forget gate ~ sigmoid(1) = 0.73
    rnn_norms = grad_through_time(unroll_recurrence(None, rnn, head, y), x)
    lstm_norms = grad_through_time(unroll_recurrence(None, lstm, head, y), x)
    assert len(rnn_norms) == len(lstm_norms) == T
    rnn_ratio, lstm_ratio = rnn_norms[0] / rnn_norms[-1], lstm_norms[0] / lstm_norms[-1]
    assert rnn_ratio < 1e-10  # ~0.3 per step with these weights, 29 steps back
    assert lstm_ratio > 1e-5  # the cell path decays only by the forget gate
    assert lstm_ratio > 1e6 * rnn_ratio
    assert rnn_norms[0] < rnn_norms[T // 2] < rnn_norms[-1]  # monotone-ish decay backwards in time


def test_cells_and_custom_unroll() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, D)
    cell = nn.GRUCell(D, H)
    norms = grad_through_time(unroll_recurrence(None, cell, nn.Linear(H, 3)), x)
    assert len(norms) == 5 and all(n > 0 for n in norms)

    w = torch.tensor(0.5, requires_grad=True)

    def unroll(x: torch.Tensor):  # h_t = w * h_{t-1} + x_t, L = h_T: dL/dh_t = w^(T-1-t)
        h, hs = torch.zeros(()), []
        for t in range(x.numel()):
            h = w * h + x[t]
            hs.append(h)
        return hs, h

    assert grad_through_time(unroll, torch.ones(4)) == pytest.approx([0.125, 0.25, 0.5, 1.0])


def test_unroll_model_finds_parts() -> None:
    torch.manual_seed(0)
    model = TinyLM(dropout=0.0)
    x = torch.randint(0, 11, (2, 6))
    norms = grad_through_time(unroll_model(model, target=torch.tensor([1, 2])), x)
    assert len(norms) == 6 and norms[-1] > 0
    with pytest.raises(ConfigError, match="no recurrent part"):
        unroll_model(nn.Sequential(nn.Linear(2, 2)))


def test_grad_norms_by_layer() -> None:
    assert layer_group("rnn.weight_hh_l1") == "rnn.l1"
    assert layer_group("rnn.bias_ih_l0_reverse") == "rnn.l0r"
    assert layer_group("decoder.weight") == "decoder" and layer_group("scale") == "(root)"
    model = nn.Sequential()
    model.add_module("rnn", nn.GRU(3, 4, num_layers=2))
    model.add_module("head", nn.Linear(4, 2))
    out, _ = model.rnn(torch.randn(5, 2, 3))
    model.head(out).sum().backward()
    norms = grad_norms_by_layer(model)
    assert set(norms) == {"rnn.l0", "rnn.l1", "head"}
    total = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    assert sum(v * v for v in norms.values()) ** 0.5 == pytest.approx(float(total), rel=1e-5)
