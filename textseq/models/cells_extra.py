"""Two more scratch cells on the ScratchRecurrent frame (textseq.models.cells): a layer-normalised
LSTM and an ODE-RNN.

LayerNormLSTM (Ba et al., 2016, eq. 20-22), with torch's i, f, g, o block order:

    gates = LN(W_ih x_t; gain_ih, bias_ih) + LN(W_hh h_{t-1}; gain_hh, bias_hh)       (B, 4H)
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
    h_t = sigmoid(o) * tanh(LN(c_t; gain_c, bias_c))

Each LN normalises the whole 4H pre-activation; its shift is the usual bias_ih / bias_hh, so the
forget bias of `init_recurrent_` still lands in bias_ih. The input LN of every step is computed at
once before the loop, as the plain cells' input projection is.

ODERNN: the hidden state is a point of a trajectory dz/dt = g(x_t, z), advanced by `ode_steps`
explicit Euler steps of size `dt` for each input (Chen et al., 2018; the notes' z(t) = z(t - dt) +
g(h, z) dt):

    g(x, z) = W_ho tanh(W_ih x + b_ih + W_hh z + b_hh) + b_ho        a one-hidden-layer MLP (width H)
    z <- z + dt * g(x_t, z)   (ode_steps times)

W_ho starts as the identity and b_ho at zero, so that with ode_steps = 1 the cell starts as (and
with those values is exactly) the residual Elman cell h_t = h_{t-1} + dt * tanh(W x_t + U h_{t-1} + b).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from textseq.models.cells import ScratchRecurrent

LN_EPS = 1e-5


class LayerNormLSTM(ScratchRecurrent):
    """LSTM with layer normalisation of the input and recurrent pre-activations and of the cell state."""

    mode = "LSTM_LN"
    num_gates = 4
    num_states = 2

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        super().__init__(input_size, hidden_size, num_layers, dropout, bidirectional)

    def _extra_parameters(self):
        gh, hs = self.num_gates * self.hidden_size, self.hidden_size
        return (("gain_ih", (gh,)), ("gain_hh", (gh,)), ("gain_c", (hs,)), ("bias_c", (hs,)))

    def reset_parameters(self) -> None:
        """torch's uniform init for the weights and biases; LN gains 1, LN shifts of c 0."""
        super().reset_parameters()
        with torch.no_grad():
            for name, param in self.named_parameters():
                if name.startswith("gain_"):
                    param.fill_(1.0)
                elif name.startswith("bias_c"):
                    param.zero_()

    def _project(self, layer_in, layer, sfx):
        xp = F.linear(layer_in, getattr(self, f"weight_ih_l{layer}{sfx}"))  # (B, T, 4H)
        return F.layer_norm(xp, xp.shape[-1:], getattr(self, f"gain_ih_l{layer}{sfx}"),
                            getattr(self, f"bias_ih_l{layer}{sfx}"), LN_EPS)

    def _step_weights(self, layer, sfx):
        return tuple(getattr(self, f"{n}_l{layer}{sfx}") for n in ("weight_hh", "gain_hh", "bias_hh", "gain_c", "bias_c"))

    def _cell(self, xp_t, state, w_hh, gain_hh, b_hh, gain_c, bias_c):
        h, c = state  # (B, H) each
        hp = F.layer_norm(F.linear(h, w_hh), (w_hh.size(0),), gain_hh, b_hh, LN_EPS)  # (B, 4H)
        i, f, g, o = (xp_t + hp).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
        h = torch.sigmoid(o) * torch.tanh(F.layer_norm(c, c.shape[-1:], gain_c, bias_c, LN_EPS))  # (B, H)
        return h, c


class ODERNN(ScratchRecurrent):
    """Hidden state advanced by explicit Euler steps of a learned vector field g(x_t, z) (a small MLP)."""

    mode = "ODE_RNN"
    num_gates = 1
    options = ("ode_steps", "dt")  # the config keys make_recurrent passes on

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False, ode_steps: int = 1, dt: float = 1.0) -> None:
        if ode_steps < 1 or not dt > 0:
            raise ValueError(f"ode_steps must be >= 1 and dt > 0, got {ode_steps} and {dt}")
        self.ode_steps, self.dt = int(ode_steps), float(dt)
        super().__init__(input_size, hidden_size, num_layers, dropout, bidirectional)

    def _extra_parameters(self):
        hs = self.hidden_size
        return (("weight_ho", (hs, hs)), ("bias_ho", (hs,)))

    def reset_parameters(self) -> None:
        """torch's uniform init for W_ih, W_hh and biases; the MLP's output layer the identity (see the module doc)."""
        super().reset_parameters()
        with torch.no_grad():
            for name, param in self.named_parameters():
                if name.startswith("weight_ho"):
                    nn.init.eye_(param)
                elif name.startswith("bias_ho"):
                    param.zero_()

    def extra_repr(self) -> str:
        return super().extra_repr() + f", ode_steps={self.ode_steps}, dt={self.dt}"

    def _step_weights(self, layer, sfx):
        return tuple(getattr(self, f"{n}_l{layer}{sfx}") for n in ("weight_hh", "bias_hh", "weight_ho", "bias_ho"))

    def _cell(self, xp_t, state, w_hh, b_hh, w_ho, b_ho):
        (z,) = state  # (B, H)
        for _ in range(self.ode_steps):
            z = z + self.dt * F.linear(torch.tanh(xp_t + F.linear(z, w_hh, b_hh)), w_ho, b_ho)  # (B, H)
        return (z,)
