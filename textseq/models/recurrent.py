"""Recurrent layers by name: torch's fused kernels (`lstm`, `gru`, `rnn`), textseq's scratch
cells (`lstm_scratch`, ..., `lstm_ln`, `ode_rnn`), the parallel-scan `mingru` / `minlstm`, and
the pre-norm residual stack (`block="residual"`) around any of them, plus the initialisation and
zero-state helpers every model shares.

All layers are batch-first and share torch's interface and parameter names, so models, init and
the state helpers never need to know which implementation they got.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Literal

import torch
from pydantic import Field
from torch import nn

from textseq.config import StrictModel
from textseq.errors import ConfigError
from textseq.models.cells import ScratchGRU, ScratchLSTM, ScratchRecurrent, ScratchRNN
from textseq.models.cells_extra import ODERNN, LayerNormLSTM
from textseq.models.residual import ResidualStack
from textseq.models.scan import MinGRU, MinLSTM, MinRecurrent
from textseq.registry import Registry

RecurrentFactory = Callable[..., nn.Module]  # (input, hidden, layers, dropout, bidirectional, **options)
CELLS: Registry[RecurrentFactory] = Registry("recurrent cell")

# gate blocks stacked in each weight matrix, keyed by torch's `mode` (scratch modules use the same)
NUM_GATES: dict[str, int] = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "LSTM_LN": 4, "ODE_RNN": 1, "MINGRU": 2, "MINLSTM": 3}
LSTM_FORGET_BLOCK = 1  # torch's LSTM block order is i, f, g, o
# the gate block that gets `forget_bias`, for cells that have a forget gate
FORGET_BLOCK: dict[str, int] = {"LSTM": LSTM_FORGET_BLOCK, "LSTM_LN": LSTM_FORGET_BLOCK, "MINLSTM": 0}
BLOCKS = ("stack", "residual")


def _build(cls: type[nn.Module], extra: dict, input_size: int, hidden_size: int, num_layers: int,
           dropout: float, bidirectional: bool, **options) -> nn.Module:
    # torch warns when dropout is set on a single layer, where there is nothing to put it between
    dropout = dropout if num_layers > 1 else 0.0
    if issubclass(cls, (ScratchRecurrent, MinRecurrent)):
        # only the options a cell declares reach it (ode_steps/dt mean nothing to an LSTM)
        mine = {k: v for k, v in options.items() if k in getattr(cls, "options", ())}
        return cls(input_size, hidden_size, num_layers, dropout=dropout, bidirectional=bidirectional, **mine)
    return cls(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout,
               bidirectional=bidirectional, **extra)


# partials of a module-level function rather than closures, so the registry entries pickle
CELLS.register("lstm")(partial(_build, nn.LSTM, {}))
CELLS.register("gru")(partial(_build, nn.GRU, {}))
CELLS.register("rnn")(partial(_build, nn.RNN, {"nonlinearity": "tanh"}))
CELLS.register("lstm_scratch")(partial(_build, ScratchLSTM, {}))
CELLS.register("gru_scratch")(partial(_build, ScratchGRU, {}))
CELLS.register("rnn_scratch")(partial(_build, ScratchRNN, {}))
CELLS.register("lstm_ln")(partial(_build, LayerNormLSTM, {}))
CELLS.register("ode_rnn")(partial(_build, ODERNN, {}))
CELLS.register("mingru")(partial(_build, MinGRU, {}))
CELLS.register("minlstm")(partial(_build, MinLSTM, {}))


def make_recurrent(cell: str, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                   bidirectional: bool = False, block: str = "stack", norm: str = "layernorm",
                   mlp_ratio: float = 2.0, **options) -> nn.Module:
    """Build the batch-first recurrent stack registered as `cell` (ConfigError lists valid names).

    block="stack": the cell's own num_layers-deep stack; "residual": num_layers pre-norm residual
    blocks (textseq.models.residual) of one layer each. `options` (ode_steps, dt) go to cells that take them."""
    factory = CELLS.get(cell)
    if block == "stack":
        return factory(input_size, hidden_size, num_layers, dropout, bidirectional, **options)
    if block != "residual":
        raise ConfigError(f"unknown model.block {block!r}; valid: {', '.join(BLOCKS)}")
    return ResidualStack(partial(_one_layer, factory, hidden_size, bidirectional, options), input_size, hidden_size,
                         num_layers, dropout, bidirectional, norm, mlp_ratio)


def _one_layer(factory: RecurrentFactory, hidden_size: int, bidirectional: bool, options: dict, width: int) -> nn.Module:
    return factory(width, hidden_size, 1, 0.0, bidirectional, **options)


def recurrent_layers(module: nn.Module) -> list[nn.Module]:
    """The cell modules inside `module`: its residual blocks' layers, or the module itself."""
    inner = getattr(module, "recurrent_layers", None)
    return inner() if callable(inner) else [module]


def _num_gates(module: nn.Module) -> int:
    mode = getattr(module, "mode", None)
    if mode not in NUM_GATES:
        raise ConfigError(f"not a supported recurrent module (mode {mode!r}); supported: {', '.join(sorted(NUM_GATES))}")
    return NUM_GATES[mode]


def is_lstm(module: nn.Module) -> bool:
    """True when the module's state is an (h, c) pair."""
    return getattr(module, "mode", None) == "LSTM" or getattr(module, "num_states", 1) == 2


@torch.no_grad()
def init_recurrent_(module: nn.Module, forget_bias: float = 1.0) -> nn.Module:
    """Xavier input weights, orthogonal recurrent weights, zero biases, LSTM forget bias `forget_bias`.

    Each gate block is initialised on its own: an orthogonal H x H block keeps the norm of h through
    the recurrence at init (no vanishing/exploding from the weights alone), which a single
    orthogonal (G*H x H) matrix would not give per gate. torch adds two bias vectors
    (b_ih + b_hh); the forget bias goes wholly into bias_ih's f block, bias_hh's stays 0, so the
    effective bias is exactly `forget_bias`. A positive forget bias starts the LSTM remembering,
    which helps gradients flow over long spans early in training (Jozefowicz et al., 2015).
    minLSTM's forget block (f, first) gets it too; minGRU has no recurrent weights and no forget
    bias. Parameters beyond these four kinds (LN gains, the ODE-RNN's output layer) keep their
    own init; a residual stack initialises each block's layer.
    """
    if getattr(module, "recurrent_layers", None) is not None:
        for layer in recurrent_layers(module):
            init_recurrent_(layer, forget_bias)
        return module
    _num_gates(module)
    forget = FORGET_BLOCK.get(module.mode)
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
            if forget is not None and name.startswith("bias_ih"):
                param[forget * hs:(forget + 1) * hs] = forget_bias
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


class RecurrentOptions(StrictModel):
    """Config keys shared by the LM and the classifiers: how the layers are stacked, and per-cell options."""

    block: Literal["stack", "residual"] = "stack"  # residual: pre-norm residual blocks with a 1x1 MLP (textseq.models.residual)
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"  # the residual blocks' normalisation
    mlp_ratio: float = Field(default=2.0, gt=0.0)  # the residual blocks' MLP width / model width
    ode_steps: int = Field(default=1, ge=1)  # ode_rnn: Euler steps per input
    dt: float = Field(default=1.0, gt=0.0)  # ode_rnn: Euler step size
    # mingru/minlstm: how a window runs (textseq.models.scan); auto = log on a GPU, sequential on a CPU
    scan: Literal["auto", "log", "sequential", "loop"] = "auto"

    def recurrent_options(self) -> dict[str, Any]:
        """The keyword arguments make_recurrent takes from these keys."""
        return {"block": self.block, "norm": self.norm, "mlp_ratio": self.mlp_ratio, "ode_steps": self.ode_steps, "dt": self.dt,
                "scan": self.scan}
