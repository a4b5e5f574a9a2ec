"""textseq's own recurrent layers (LSTM, GRU, Elman RNN), written from the gate equations.

They exist to be read and changed (new gates, normalisation, probes), not to be fast: torch's fused
nn.LSTM / nn.GRU / nn.RNN remain the default. Tests hold them to the fused kernels at float32
precision, outputs and gradients both.

Layout is torch's, so weights move between the two with `load_state_dict`:

    weight_ih_l{k}[_reverse]  (G*H, I_k)   I_0 = input_size, I_k = D*H above the first layer
    weight_hh_l{k}[_reverse]  (G*H, H)
    bias_ih_l{k}[_reverse]    (G*H,)
    bias_hh_l{k}[_reverse]    (G*H,)

with gate blocks stacked in torch's order: LSTM i,f,g,o (G=4); GRU r,z,n (G=3); RNN one block.

GRU update gate: the scratch GRU uses h_t = (1 - z) * h_{t-1} + z * h~ (z = "how much to update"),
torch uses h_t = (1 - z') * h~ + z' * h_{t-1}. So z = 1 - z', and since 1 - sigmoid(a) = sigmoid(-a)
the two are the same function when the z block (rows H:2H) of all four GRU tensors is negated.
`from_torch` / `to_torch` / `torch_state_dict` / `load_torch_state_dict` apply that sign flip;
plain `load_state_dict` copies raw tensors (scratch <-> scratch), so use the helpers when torch's
nn.GRU is on the other side. For LSTM and RNN the helpers are plain copies.

Shapes (batch first): x (B, T, I) -> output (B, T, D*H), h_n (L*D, B, H); LSTM state is (h_n, c_n).
The input projection of a whole layer is one matmul over all time steps; only the recurrence loops.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from textseq.errors import ConfigError

State = tuple[torch.Tensor, ...]  # per-direction cell state: (h,) or (h, c), each (B, H)


class LayerStack(nn.Module):
    """Stacked, optionally bidirectional layers with torch's parameter names, batch first.

    Holds what every textseq recurrent module shares: size checks, the attributes torch's modules
    carry (input_size, hidden_size, num_layers, dropout, bidirectional, batch_first) and, per layer
    and direction, weight_ih / bias_ih (G*H rows) plus weight_hh / bias_hh when `recurrent_weights`."""

    num_gates: ClassVar[int]
    recurrent_weights: ClassVar[bool] = True  # False for cells whose gates read the input only

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        super().__init__()
        if num_layers < 1 or hidden_size < 1 or input_size < 1:
            raise ValueError("input_size, hidden_size and num_layers must be positive")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.batch_first = True  # the only layout; kept as an attribute for parity with torch
        gh = self.num_gates * hidden_size
        for layer in range(num_layers):
            in_size = input_size if layer == 0 else hidden_size * self.num_directions
            for sfx in self._suffixes():
                self.register_parameter(f"weight_ih_l{layer}{sfx}", nn.Parameter(torch.empty(gh, in_size)))
                if self.recurrent_weights:
                    self.register_parameter(f"weight_hh_l{layer}{sfx}", nn.Parameter(torch.empty(gh, hidden_size)))
                self.register_parameter(f"bias_ih_l{layer}{sfx}", nn.Parameter(torch.empty(gh)))
                if self.recurrent_weights:
                    self.register_parameter(f"bias_hh_l{layer}{sfx}", nn.Parameter(torch.empty(gh)))
        for layer in range(num_layers):  # after the gate weights, so their init draws stay in the same order
            for sfx in self._suffixes():
                for name, shape in self._extra_parameters():
                    self.register_parameter(f"{name}_l{layer}{sfx}", nn.Parameter(torch.empty(shape)))

    def _extra_parameters(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """(name, shape) of the cell's own per-layer, per-direction parameters beyond torch's four."""
        return ()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self) -> tuple[str, ...]:
        return ("", "_reverse") if self.bidirectional else ("",)

    def reset_parameters(self) -> None:
        """torch's default init, U(-1/sqrt(H), 1/sqrt(H)); `init_recurrent_` gives the tuned one."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"dropout={self.dropout}, bidirectional={self.bidirectional}")


class ScratchRecurrent(LayerStack):
    """Shared stacking, bidirectionality and dropout; subclasses supply one time step (`_cell`)."""

    mode: ClassVar[str]  # torch's name for the cell kind, as in nn.RNNBase.mode
    num_states: ClassVar[int] = 1  # 2 for LSTM (h, c)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        super().__init__(input_size, hidden_size, num_layers, dropout, bidirectional)
        self.reset_parameters()

    # -- one time step; subclasses implement the cell equations ------------------------------
    def _cell(self, xp_t: torch.Tensor, state: State, w_hh: torch.Tensor, b_hh: torch.Tensor) -> State:
        """Advance one step given the precomputed input projection xp_t = W_ih x_t + b_ih (B, G*H)."""
        raise NotImplementedError

    def _project(self, layer_in: torch.Tensor, layer: int, sfx: str) -> torch.Tensor:
        """The input projection of every time step at once: (B, T, I_k) -> (B, T, G*H)."""
        return F.linear(layer_in, getattr(self, f"weight_ih_l{layer}{sfx}"), getattr(self, f"bias_ih_l{layer}{sfx}"))

    def _step_weights(self, layer: int, sfx: str) -> tuple[torch.Tensor, ...]:
        """The tensors `_cell` takes after the state (w_hh, b_hh here; cells with more parameters add theirs)."""
        return getattr(self, f"weight_hh_l{layer}{sfx}"), getattr(self, f"bias_hh_l{layer}{sfx}")

    # -- the loops -------------------------------------------------------------------------------
    def _scan(self, xp: torch.Tensor, state: State, weights: tuple[torch.Tensor, ...],
              reverse: bool) -> tuple[torch.Tensor, State]:
        """Run the recurrence over time; xp (B, T, G*H) -> outputs (B, T, H), final state."""
        # unbind, not xp[:, t]: its backward is one stack, where T separate selects would each
        # scatter into a zero-filled (B, T, G*H) gradient
        steps = xp.unbind(dim=1)  # T tensors of (B, G*H)
        outs = []
        for xp_t in (reversed(steps) if reverse else steps):
            state = self._cell(xp_t, state, *weights)  # each (B, H)
            outs.append(state[0])
        if not outs:  # T == 0: nothing to run, the state passes through
            return xp.new_zeros(xp.size(0), 0, self.hidden_size), state
        if reverse:
            outs.reverse()  # outputs stay aligned with input positions
        return torch.stack(outs, dim=1), state  # (B, T, H)

    def forward(self, x: torch.Tensor, hx: torch.Tensor | tuple[torch.Tensor, ...] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | tuple[torch.Tensor, torch.Tensor]]:
        """x (B, T, I), hx (L*D, B, H) (LSTM: a pair) -> output (B, T, D*H), h_n (LSTM: (h_n, c_n))."""
        if x.dim() != 3 or x.size(-1) != self.input_size:
            raise ValueError(f"{type(self).__name__} expects input (B, T, {self.input_size}), got {tuple(x.shape)}")
        batch = x.size(0)
        init = self._initial_states(hx, batch, x)  # num_states tensors of (L*D, B, H)
        finals: list[State] = []
        layer_in = x  # (B, T, I_k)
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0.0 and self.training:
                layer_in = F.dropout(layer_in, self.dropout, training=True)  # between layers only, as torch
            outs = []
            for d, sfx in enumerate(self._suffixes()):
                idx = layer * self.num_directions + d
                xp = self._project(layer_in, layer, sfx)  # (B, T, G*H): one matmul for every time step
                out, final = self._scan(xp, tuple(s[idx] for s in init), self._step_weights(layer, sfx), reverse=d == 1)
                outs.append(out)  # (B, T, H)
                finals.append(final)
            layer_in = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)  # (B, T, D*H)
        stacked = tuple(torch.stack([f[k] for f in finals]) for k in range(self.num_states))  # (L*D, B, H)
        return layer_in, (stacked if self.num_states > 1 else stacked[0])

    def _initial_states(self, hx, batch: int, x: torch.Tensor) -> State:
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if hx is None:
            return tuple(x.new_zeros(shape) for _ in range(self.num_states))
        states = (hx,) if isinstance(hx, torch.Tensor) else tuple(hx)
        if len(states) != self.num_states:
            raise ValueError(f"{type(self).__name__} expects a state of {self.num_states} tensor(s), got {len(states)}")
        for s in states:
            if tuple(s.shape) != shape:
                raise ValueError(f"{type(self).__name__} expects state tensors of shape {shape}, got {tuple(s.shape)}")
        return states

    # -- exchange with torch's fused modules ------------------------------------------------------
    def torch_convention(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a state dict between this module's and torch's gate convention (an involution)."""
        return dict(state_dict)

    def torch_state_dict(self) -> dict[str, torch.Tensor]:
        """This module's weights as torch's fused module of the same kind expects them."""
        return self.torch_convention({k: v.detach().clone() for k, v in self.state_dict().items()})

    def load_torch_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load weights taken from torch's fused module of the same kind (strict)."""
        self.load_state_dict(self.torch_convention(state_dict))


class ScratchLSTM(ScratchRecurrent):
    """LSTM: c_t = f*c_{t-1} + i*g, h_t = o*tanh(c_t); gates from x_t and h_{t-1}."""

    mode = "LSTM"
    num_gates = 4
    num_states = 2

    def _cell(self, xp_t, state, w_hh, b_hh):
        h, c = state  # (B, H) each
        gates = xp_t + F.linear(h, w_hh, b_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)  # torch's block order
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
        h = torch.sigmoid(o) * torch.tanh(c)  # (B, H)
        return h, c


class ScratchGRU(ScratchRecurrent):
    """GRU with h_t = (1-z)*h_{t-1} + z*h~, h~ = tanh(W_n x + b_in + r*(U_n h + b_hn)).

    r multiplies U_n h + b_hn (not h before the matmul), exactly as torch/cuDNN do, so weights are
    interchangeable; only the z sign differs (see the module docstring)."""

    mode = "GRU"
    num_gates = 3

    def _cell(self, xp_t, state, w_hh, b_hh):
        (h,) = state  # (B, H)
        x_r, x_z, x_n = xp_t.chunk(3, dim=1)  # (B, H) each
        h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=1)  # (B, H) each
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        cand = torch.tanh(x_n + r * h_n)  # (B, H)
        return ((1.0 - z) * h + z * cand,)

    def torch_convention(self, state_dict):
        return flip_gru_update_gate(state_dict, self.hidden_size)


class ScratchRNN(ScratchRecurrent):
    """Elman RNN: h_t = tanh(W x_t + b_ih + U h_{t-1} + b_hh)."""

    mode = "RNN_TANH"
    num_gates = 1

    def _cell(self, xp_t, state, w_hh, b_hh):
        (h,) = state
        return (torch.tanh(xp_t + F.linear(h, w_hh, b_hh)),)  # (B, H)


def flip_gru_update_gate(tensors: dict[str, torch.Tensor], hidden_size: int) -> dict[str, torch.Tensor]:
    """Negate the z block (rows H:2H) of GRU tensors: torch <-> scratch convention, either way.

    sigmoid(-a) = 1 - sigmoid(a), so negated z pre-activations turn torch's z' into our z = 1 - z'.
    The same map converts gradients, because d/da f(-a) = -f'(-a)."""
    out = {}
    for name, tensor in tensors.items():
        tensor = tensor.clone()
        tensor[hidden_size:2 * hidden_size] = -tensor[hidden_size:2 * hidden_size]
        out[name] = tensor
    return out


SCRATCH_BY_MODE: dict[str, type[ScratchRecurrent]] = {c.mode: c for c in (ScratchLSTM, ScratchGRU, ScratchRNN)}
_FUSED_BY_MODE: dict[str, type[nn.RNNBase]] = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN_TANH": nn.RNN}


def from_torch(module: nn.RNNBase) -> ScratchRecurrent:
    """A scratch copy of torch's nn.LSTM / nn.GRU / nn.RNN(tanh): same function, batch-first layout."""
    cls = _lookup(SCRATCH_BY_MODE, module.mode)
    if getattr(module, "proj_size", 0) or not module.bias:
        raise ConfigError("from_torch supports modules with bias=True and proj_size=0 only")
    scratch = cls(module.input_size, module.hidden_size, module.num_layers, module.dropout, module.bidirectional)
    p = next(module.parameters())
    scratch.to(device=p.device, dtype=p.dtype)
    scratch.load_torch_state_dict(module.state_dict())
    return scratch


def to_torch(module: ScratchRecurrent) -> nn.RNNBase:
    """torch's fused module (batch_first) computing the same function as a scratch one."""
    cls = _lookup(_FUSED_BY_MODE, module.mode)
    fused = cls(module.input_size, module.hidden_size, module.num_layers, batch_first=True,
                dropout=module.dropout, bidirectional=module.bidirectional)
    p = next(module.parameters())
    fused.to(device=p.device, dtype=p.dtype)
    fused.load_state_dict(module.torch_state_dict())
    return fused


def _lookup(table: dict, mode: str):
    try:
        return table[mode]
    except KeyError:
        raise ConfigError(f"unsupported recurrent mode {mode!r}; supported: {', '.join(sorted(table))}") from None
