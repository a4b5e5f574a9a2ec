"""Recurrent layers by name: torch's fused kernels (`lstm`, `gru`, `rnn`) and textseq's scratch
cells (`lstm_scratch`, ...), plus the initialisation and zero-state helpers every model shares.

All layers are batch-first and share torch's interface and parameter names, so models, init and
the state helpers never need to know which implementation they got.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from textseq.errors import ConfigError
from textseq.models.cells import ScratchGRU, ScratchLSTM, ScratchRecurrent, ScratchRNN
from textseq.registry import Registry

RecurrentFactory = Callable[[int, int, int, float, bool], nn.Module]
CELLS: Registry[RecurrentFactory] = Registry("recurrent cell")

# gate blocks stacked in each weight matrix, keyed by torch's `mode` (scratch modules use the same)
NUM_GATES: dict[str, int] = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1}
LSTM_FORGET_BLOCK = 1  # torch's LSTM block order is i, f, g, o


def _build(cls: type[nn.Module], extra: dict, input_size: int, hidden_size: int, num_layers: int,
           dropout: float, bidirectional: bool) -> nn.Module:
    # torch warns when dropout is set on a single layer, where there is nothing to put it between
    dropout = dropout if num_layers > 1 else 0.0
    if issubclass(cls, ScratchRecurrent):
        return cls(input_size, hidden_size, num_layers, dropout=dropout, bidirectional=bidirectional)
    return cls(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout,
               bidirectional=bidirectional, **extra)


# partials of a module-level function rather than closures, so the registry entries pickle
CELLS.register("lstm")(partial(_build, nn.LSTM, {}))
CELLS.register("gru")(partial(_build, nn.GRU, {}))
CELLS.register("rnn")(partial(_build, nn.RNN, {"nonlinearity": "tanh"}))
CELLS.register("lstm_scratch")(partial(_build, ScratchLSTM, {}))
CELLS.register("gru_scratch")(partial(_build, ScratchGRU, {}))
CELLS.register("rnn_scratch")(partial(_build, ScratchRNN, {}))


def make_recurrent(cell: str, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                   bidirectional: bool = False) -> nn.Module:
    """Build the batch-first recurrent stack registered as `cell` (ConfigError lists valid names)."""
    return CELLS.get(cell)(input_size, hidden_size, num_layers, dropout, bidirectional)


def _num_gates(module: nn.Module) -> int:
    mode = getattr(module, "mode", None)
    if mode not in NUM_GATES:
        raise ConfigError(f"not a supported recurrent module (mode {mode!r}); supported: {', '.join(sorted(NUM_GATES))}")
    return NUM_GATES[mode]


def is_lstm(module: nn.Module) -> bool:
    """True when the module's state is an (h, c) pair."""
    return getattr(module, "mode", None) == "LSTM"


@torch.no_grad()
def init_recurrent_(module: nn.Module, forget_bias: float = 1.0) -> nn.Module:
    """Xavier input weights, orthogonal recurrent weights, zero biases, LSTM forget bias `forget_bias`.

    Each gate block is initialised on its own: an orthogonal H x H block keeps the norm of h through
    the recurrence at init (no vanishing/exploding from the weights alone), which a single
    orthogonal (G*H x H) matrix would not give per gate. torch adds two bias vectors
    (b_ih + b_hh); the forget bias goes wholly into bias_ih's f block, bias_hh's stays 0, so the
    effective bias is exactly `forget_bias`. A positive forget bias starts the LSTM remembering,
    which helps gradients flow over long spans early in training (Jozefowicz et al., 2015).
    """
    gates = _num_gates(module)
    hs = module.hidden_size
    for name, param in module.named_parameters():
        if name.startswith("weight_ih"):
            for block in param.split(hs):
                nn.init.xavier_uniform_(block)
        elif name.startswith("weight_hh"):
            for block in param.split(hs):
                nn.init.orthogonal_(block)
        elif name.startswith("bias"):
            param.zero_()
            if gates == 4 and name.startswith("bias_ih"):
                param[LSTM_FORGET_BLOCK * hs:(LSTM_FORGET_BLOCK + 1) * hs] = forget_bias
    return module


def state_size(module: nn.Module) -> tuple[int, int]:
    """(num_layers * num_directions, hidden_size): the state shape without the batch dimension."""
    return module.num_layers * (2 if module.bidirectional else 1), module.hidden_size


def init_state(module: nn.Module, batch_size: int, device: torch.device | str | None = None):
    """Zero state (L*D, B, H) for `module`; a pair of them for an LSTM."""
    layers, hs = state_size(module)
    p = next(module.parameters())
    shape, device = (layers, batch_size, hs), device or p.device
    if is_lstm(module):
        return torch.zeros(shape, device=device, dtype=p.dtype), torch.zeros(shape, device=device, dtype=p.dtype)
    return torch.zeros(shape, device=device, dtype=p.dtype)
