"""Layer-normalised LSTM against the paper's equations written out step by step; ODE-RNN against the
residual Elman cell; residual blocks: shapes, state and the carried state for every kind of cell."""

import pytest
import torch
import torch.nn.functional as F

from textseq.models.cells_extra import ODERNN, LayerNormLSTM
from textseq.models.recurrent import init_recurrent_, init_state, is_lstm, make_recurrent, state_size
from textseq.models.residual import ResidualStack


def _ln(v, gain, bias, eps=1e-5):
    mean = v.mean(-1, keepdim=True)
    var = ((v - mean) ** 2).mean(-1, keepdim=True)
    return (v - mean) / torch.sqrt(var + eps) * gain + bias


def test_layer_norm_lstm_is_ba_et_al_equations():
    torch.manual_seed(0)
    cell = LayerNormLSTM(3, 4).double()
    with torch.no_grad():  # non-trivial gains and shifts, so a missing or misplaced one would show
        for p in cell.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    h0, c0 = torch.randn(1, 2, 4, dtype=torch.float64), torch.randn(1, 2, 4, dtype=torch.float64)
    out, (h_n, c_n) = cell(x, (h0, c0))
    p = {n.removesuffix("_l0"): t for n, t in cell.named_parameters()}
    h, c = h0[0], c0[0]
    for t in range(x.size(1)):
        pre = (_ln(x[:, t] @ p["weight_ih"].T, p["gain_ih"], p["bias_ih"])
               + _ln(h @ p["weight_hh"].T, p["gain_hh"], p["bias_hh"]))
        i, f, gg, o = pre.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
        h = torch.sigmoid(o) * torch.tanh(_ln(c, p["gain_c"], p["bias_c"]))
        torch.testing.assert_close(out[:, t], h)
    torch.testing.assert_close(h_n[0], h)
    torch.testing.assert_close(c_n[0], c)


def test_ode_rnn_with_one_step_and_identity_output_is_the_residual_elman_cell():
    torch.manual_seed(0)
    dt = 0.3
    cell = ODERNN(3, 4, ode_steps=1, dt=dt).double()  # W_ho = I, b_ho = 0 at init: g = tanh(W x + U z + b)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    h = torch.randn(1, 2, 4, dtype=torch.float64)
    out, h_n = cell(x, h)
    W, U = cell.weight_ih_l0, cell.weight_hh_l0
    b = cell.bias_ih_l0 + cell.bias_hh_l0
    h = h[0]
    for t in range(x.size(1)):
        h = h + dt * torch.tanh(x[:, t] @ W.T + h @ U.T + b)
        torch.testing.assert_close(out[:, t], h)
    torch.testing.assert_close(h_n[0], h)


def test_ode_rnn_more_steps_integrate_further():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 3)
    one, two = ODERNN(3, 4, ode_steps=1, dt=0.2), ODERNN(3, 4, ode_steps=2, dt=0.2)
    two.load_state_dict(one.state_dict())
    z = torch.zeros(2, 4)
    for t in range(x.size(1)):  # two Euler steps per input, each of size dt
        for _ in range(2):
            z = z + 0.2 * (torch.tanh(F.linear(x[:, t], one.weight_ih_l0, one.bias_ih_l0)
                                      + F.linear(z, one.weight_hh_l0, one.bias_hh_l0)) @ one.weight_ho_l0.T + one.bias_ho_l0)
    torch.testing.assert_close(two(x)[1][0], z)
    assert not torch.allclose(one(x)[1][0], z)


@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru", "minlstm", "lstm_ln", "ode_rnn"])
def test_residual_stack_state_and_windows(cell):
    torch.manual_seed(0)
    stack = init_recurrent_(make_recurrent(cell, 6, 8, 3, 0.0, False, block="residual", norm="rmsnorm", mlp_ratio=1.5))
    assert isinstance(stack, ResidualStack) and state_size(stack) == (3, 8)
    state = init_state(stack, 2)
    assert isinstance(state, tuple) == (cell in ("lstm", "lstm_ln")) == is_lstm(stack)
    x = torch.randn(2, 20, 6)
    whole, h_whole = stack(x, state)
    assert whole.shape == (2, 20, 8)
    parts = []
    for window in x.split(7, dim=1):  # the state of each block carries across windows
        out, state = stack(window, state)
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        parts.append(out)
    torch.testing.assert_close(torch.cat(parts, 1), whole, rtol=1e-5, atol=1e-5)
    whole.sum().backward()
    assert all(p.grad is not None for p in stack.parameters())


def test_init_recurrent_reaches_the_blocks_and_sets_forget_biases():
    stack = init_recurrent_(make_recurrent("minlstm", 6, 8, 2, block="residual"), forget_bias=2.0)
    for layer in stack.recurrent_layers():
        assert torch.all(layer.bias_ih_l0[:8] == 2.0) and torch.all(layer.bias_ih_l0[8:] == 0.0)
    ln = init_recurrent_(make_recurrent("lstm_ln", 6, 8), forget_bias=1.5)
    assert torch.all(ln.bias_ih_l0[8:16] == 1.5) and torch.all(ln.gain_ih_l0 == 1.0)
    ode = init_recurrent_(make_recurrent("ode_rnn", 6, 8, ode_steps=3, dt=0.5))
    assert ode.ode_steps == 3 and torch.equal(ode.weight_ho_l0, torch.eye(8))
