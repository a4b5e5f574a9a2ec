"""Scratch recurrent cells against torch's fused kernels: same function, same gradients, same layout."""

from __future__ import annotations

import math

import pytest
import torch

from textseq.errors import ConfigError
from textseq.models.cells import ScratchGRU, flip_gru_update_gate, from_torch, to_torch
from textseq.models.recurrent import CELLS, init_recurrent_, init_state, is_lstm, make_recurrent, state_size

torch.set_num_threads(1)

B, T, I, H = 3, 5, 4, 6
ATOL = 1e-5
KINDS = ["lstm", "gru", "rnn"]
SHAPES = [(1, False), (1, True), (2, False), (2, True)]


def _pair(kind: str, layers: int, bidir: bool):
    fused = make_recurrent(kind, I, H, layers, 0.0, bidir)
    scratch = make_recurrent(f"{kind}_scratch", I, H, layers, 0.0, bidir)
    return fused, scratch


def _random_state(module, gen: torch.Generator):
    layers, hs = state_size(module)
    make = lambda: torch.randn(layers, B, hs, generator=gen)  # noqa: E731
    return (make(), make()) if is_lstm(module) else make()


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _run(module, x, state, gen_seed: int = 7):
    """Forward + backward of a loss that touches every output and final state; returns all results."""
    x = x.clone().requires_grad_(True)
    state = tuple(s.clone().requires_grad_(True) for s in _as_tuple(state))
    module.zero_grad()
    out, final = module(x, state if len(state) > 1 else state[0])
    final = _as_tuple(final)
    gen = torch.Generator().manual_seed(gen_seed)  # same random weighting for both modules
    loss = (out * torch.randn(out.shape, generator=gen)).sum()
    loss = loss + sum((f * torch.randn(f.shape, generator=gen)).sum() for f in final)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in module.named_parameters()}
    return out, final, x.grad, tuple(s.grad for s in state), grads


def _to_torch_convention(kind: str, tensors: dict) -> dict:
    return flip_gru_update_gate(tensors, H) if kind == "gru" else tensors


@pytest.mark.parametrize("layers,bidir", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("direction", ["torch_to_scratch", "scratch_to_torch"])
def test_scratch_matches_fused(kind, layers, bidir, direction):
    torch.manual_seed(0)
    fused, scratch = _pair(kind, layers, bidir)
    if direction == "torch_to_scratch":
        scratch.load_torch_state_dict(fused.state_dict())
    else:
        fused.load_state_dict(scratch.torch_state_dict())
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, I, generator=gen)
    state = _random_state(fused, gen)

    f_out, f_final, f_dx, f_dstate, f_grads = _run(fused, x, state)
    s_out, s_final, s_dx, s_dstate, s_grads = _run(scratch, x, state)

    assert s_out.shape == f_out.shape == (B, T, H * (2 if bidir else 1))
    torch.testing.assert_close(s_out, f_out, atol=ATOL, rtol=0)
    for s, f in zip(s_final, f_final, strict=True):
        assert s.shape == f.shape == (layers * (2 if bidir else 1), B, H)
        torch.testing.assert_close(s, f, atol=ATOL, rtol=0)
    torch.testing.assert_close(s_dx, f_dx, atol=ATOL, rtol=0)
    for s, f in zip(s_dstate, f_dstate, strict=True):
        torch.testing.assert_close(s, f, atol=ATOL, rtol=0)
    assert s_grads.keys() == f_grads.keys()
    mapped = _to_torch_convention(kind, s_grads)  # dL/d(-a) = -dL/da on the GRU z block
    for name in f_grads:
        torch.testing.assert_close(mapped[name], f_grads[name], atol=ATOL, rtol=0, msg=name)


@pytest.mark.parametrize("kind", KINDS)
def test_from_torch_and_to_torch_round_trip(kind):
    torch.manual_seed(0)
    fused = make_recurrent(kind, I, H, 2, 0.0, True)
    scratch = from_torch(fused)
    back = to_torch(scratch)
    x = torch.randn(B, T, I)
    with torch.no_grad():
        torch.testing.assert_close(scratch(x)[0], fused(x)[0], atol=ATOL, rtol=0)
        torch.testing.assert_close(back(x)[0], fused(x)[0], atol=ATOL, rtol=0)
    for name, tensor in fused.state_dict().items():
        torch.testing.assert_close(back.state_dict()[name], tensor, atol=0, rtol=0)


def test_gru_raw_state_dict_differs_from_torch_only_in_z_block():
    torch.manual_seed(0)
    fused = make_recurrent("gru", I, H, 1, 0.0, False)
    scratch = from_torch(fused)
    for name, tensor in fused.state_dict().items():
        mine = scratch.state_dict()[name]
        torch.testing.assert_close(mine[:H], tensor[:H])  # r block unchanged
        torch.testing.assert_close(mine[H:2 * H], -tensor[H:2 * H])  # z block negated
        torch.testing.assert_close(mine[2 * H:], tensor[2 * H:])  # n block unchanged


def test_gru_update_convention_by_hand():
    """h_1 = (1 - z) h_0 + z h~ on a 1-unit GRU with hand-picked weights."""
    gru = ScratchGRU(1, 1)
    w_ih, w_hh = [0.5, 2.0, -1.0], [0.3, 1.0, 0.8]  # blocks r, z, n
    b_ih, b_hh = [0.1, 0.2, 0.05], [-0.2, 0.3, 0.4]
    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch.tensor(w_ih).view(3, 1))
        gru.weight_hh_l0.copy_(torch.tensor(w_hh).view(3, 1))
        gru.bias_ih_l0.copy_(torch.tensor(b_ih))
        gru.bias_hh_l0.copy_(torch.tensor(b_hh))
    x0, h0 = 1.5, 0.5
    sig = lambda a: 1.0 / (1.0 + math.exp(-a))  # noqa: E731
    r = sig(w_ih[0] * x0 + b_ih[0] + w_hh[0] * h0 + b_hh[0])
    z = sig(w_ih[1] * x0 + b_ih[1] + w_hh[1] * h0 + b_hh[1])
    cand = math.tanh(w_ih[2] * x0 + b_ih[2] + r * (w_hh[2] * h0 + b_hh[2]))
    expected = (1 - z) * h0 + z * cand
    torch_style = (1 - z) * cand + z * h0
    assert abs(expected - torch_style) > 0.05  # the test can tell the two conventions apart
    out, h_n = gru(torch.tensor([[[x0]]]), torch.tensor([[[h0]]]))
    assert out.item() == pytest.approx(expected, abs=1e-6)
    assert h_n.item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("layers,bidir", SHAPES)
@pytest.mark.parametrize("cell", ["lstm", "lstm_scratch"])
def test_forget_bias_and_init(cell, layers, bidir):
    module = init_recurrent_(make_recurrent(cell, I, H, layers, 0.0, bidir), forget_bias=1.0)
    params = dict(module.named_parameters())
    names = [n for n in params if n.startswith("bias_ih")]
    assert len(names) == layers * (2 if bidir else 1)
    for name in names:
        b_sum = params[name] + params[name.replace("bias_ih", "bias_hh")]  # what the gates see
        torch.testing.assert_close(b_sum[H:2 * H], torch.ones(H))  # forget block (i, f, g, o order)
        assert torch.count_nonzero(b_sum[:H]) == 0 and torch.count_nonzero(b_sum[2 * H:]) == 0
    for name, p in params.items():
        if name.startswith("weight_hh"):
            for block in p.detach().split(H):  # each gate's recurrent matrix is orthogonal
                torch.testing.assert_close(block @ block.T, torch.eye(H), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["gru", "gru_scratch", "rnn", "rnn_scratch"])
def test_init_zeroes_biases_without_forget_gate(cell):
    module = init_recurrent_(make_recurrent(cell, I, H, 2, 0.0, False), forget_bias=1.0)
    for name, p in module.named_parameters():
        if name.startswith("bias"):
            assert torch.count_nonzero(p) == 0, name


@pytest.mark.parametrize("cell", CELLS.names())
def test_init_state_shapes(cell):
    module = make_recurrent(cell, I, H, 2, 0.0, True)
    state = init_state(module, B)
    out, final = module(torch.randn(B, T, I), state)
    assert out.shape == (B, T, 2 * H)
    for zero, fin in zip(_as_tuple(state), _as_tuple(final), strict=True):
        assert zero.shape == fin.shape == (4, B, H)
        assert torch.count_nonzero(zero) == 0
    assert isinstance(state, tuple) == cell.startswith("lstm")


def test_scratch_dropout_between_layers_only_in_training():
    torch.manual_seed(0)
    fused = make_recurrent("lstm", I, H, 2, 0.5, False)
    scratch = from_torch(fused)
    assert scratch.dropout == 0.5
    x = torch.randn(B, T, I)
    scratch.train()
    assert not torch.allclose(scratch(x)[0], scratch(x)[0])  # dropout is active between the layers
    scratch.eval()
    fused.eval()
    torch.testing.assert_close(scratch(x)[0], fused(x)[0], atol=ATOL, rtol=0)


def test_scratch_rejects_bad_shapes():
    module = make_recurrent("gru_scratch", I, H, 1, 0.0, False)
    with pytest.raises(ValueError, match="expects input"):
        module(torch.randn(B, T, I + 1))
    with pytest.raises(ValueError, match="shape"):
        module(torch.randn(B, T, I), torch.zeros(2, B, H))


def test_unknown_cell_lists_valid_names():
    with pytest.raises(ConfigError) as err:
        make_recurrent("lstn", I, H)
    message = str(err.value)
    assert "'lstn'" in message and "did you mean 'lstm'" in message
    for name in ("gru", "gru_scratch", "lstm", "lstm_scratch", "rnn", "rnn_scratch"):
        assert name in message
