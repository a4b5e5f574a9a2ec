"""A deep recurrent stack of pre-norm residual blocks, for any cell in textseq.models.recurrent.CELLS.

    x (B, T, I) -> [in_proj I -> W]                                     W = D*H, when I != W
      block l:  x = x + drop(rnn_l(norm1_l(x)))                         rnn_l: one layer of the cell
                x = x + drop(mlp_l(norm2_l(x)))                         mlp: W -> mlp_ratio*W -> W (GELU)
    -> norm_out(x) (B, T, W)

As in the notes' "modern" view of recurrent networks (and the minGRU/minLSTM paper's language
models): the residual path lets the gradient skip every recurrence, the norm keeps each block's
input on one scale and the per-position 1x1 MLP adds depth where no time step waits on another,
so stacks of 4-8 layers train. Its interface is torch's: forward(x, hx) -> (output, h_n) with the
state (L*D, B, H) (an (h, c) pair for LSTM cells), layer l's directions at rows l*D .. l*D+D-1.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

Runner = Callable[[nn.Module, torch.Tensor, Any], tuple[torch.Tensor, Any]]


class RMSNorm(nn.Module):
    """x / rms(x) * gain (Zhang & Sennrich, 2019): layer norm without the mean."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., W) -> (..., W)."""
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


NORMS: dict[str, Callable[[int], nn.Module]] = {"layernorm": nn.LayerNorm, "rmsnorm": RMSNorm}


class ResidualBlock(nn.Module):
    """norm -> one recurrent layer -> + ; norm -> 1x1 MLP -> +."""

    def __init__(self, rnn: nn.Module, width: int, norm: str, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.norm1, self.rnn = NORMS[norm](width), rnn
        self.norm2 = NORMS[norm](width)
        inner = max(1, round(mlp_ratio * width))
        self.mlp = nn.Sequential(nn.Linear(width, inner), nn.GELU(), nn.Linear(inner, width))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, state: Any, run: Runner) -> tuple[torch.Tensor, Any]:
        """x (B, T, W) -> (B, T, W) and the layer's new state; `run(rnn, x, state)` calls the recurrent layer."""
        out, state = run(self.rnn, self.norm1(x), state)  # (B, T, W)
        x = x + self.drop(out)
        return x + self.drop(self.mlp(self.norm2(x))), state  # (B, T, W)


def call_module(rnn: nn.Module, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
    """The plain call: rnn(x, state)."""
    return rnn(x, state)


class ResidualStack(nn.Module):
    """num_layers residual blocks of single-layer recurrent modules built by `make_layer(input_size)`."""

    def __init__(self, make_layer: Callable[[int], nn.Module], input_size: int, hidden_size: int, num_layers: int,
                 dropout: float = 0.0, bidirectional: bool = False, norm: str = "layernorm",
                 mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.batch_first, self.dropout = bidirectional, True, float(dropout)
        width = hidden_size * (2 if bidirectional else 1)
        self.in_proj = nn.Linear(input_size, width) if input_size != width else None
        self.blocks = nn.ModuleList(ResidualBlock(make_layer(width), width, norm, mlp_ratio, dropout)
                                    for _ in range(num_layers))
        self.norm_out = NORMS[norm](width)
        first = self.blocks[0].rnn
        self.mode, self.num_states = first.mode, getattr(first, "num_states", 2 if first.mode == "LSTM" else 1)

    def recurrent_layers(self) -> list[nn.Module]:
        """The blocks' recurrent modules, bottom to top (what init_recurrent_ initialises)."""
        return [b.rnn for b in self.blocks]

    def forward(self, x: torch.Tensor, hx: Any = None, run: Runner = call_module) -> tuple[torch.Tensor, Any]:
        """x (B, T, I), hx (L*D, B, H) or an (h, c) pair -> output (B, T, D*H), h_n of the same form."""
        dirs = 2 if self.bidirectional else 1
        if self.in_proj is not None:
            x = self.in_proj(x)  # (B, T, W)
        pair = isinstance(hx, tuple)
        finals = []
        for layer, block in enumerate(self.blocks):
            rows = slice(layer * dirs, (layer + 1) * dirs)
            state = None if hx is None else (tuple(s[rows] for s in hx) if pair else hx[rows])  # (D, B, H)
            x, state = block(x, state, run)
            finals.append(state)
        x = self.norm_out(x)  # (B, T, W)
        if isinstance(finals[0], tuple):
            return x, tuple(torch.cat([f[k] for f in finals]) for k in range(len(finals[0])))  # (L*D, B, H) each
        return x, torch.cat(finals)  # (L*D, B, H)
