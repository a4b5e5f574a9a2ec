"""Seq2vec pooling by name: (B, T, F) encoder outputs + a (B, T) mask of real tokens -> (B, F).

    last       the final state of each direction, concatenated (computed by the encoder: for a
               backward direction it is the state after reading the first token, not position T-1)
    mean       mean over real tokens
    max        element-wise max over real tokens (padding filled with -inf)
    attention  additive (Bahdanau) attention: score_t = v^T tanh(W h_t), softmax over real tokens;
               its weights are returned, exactly 0 on padding
    concat     [last ; max ; mean], ULMFiT's concat pooling (Howard & Ruder, 2018): 3F features

Every pooling returns (pooled (B, F'), weights (B, T) or None), F' being its `output_size` (F, or
3F for concat). Rows must have at least one real token.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn

from textseq.errors import ConfigError
from textseq.registry import Registry

PoolingFactory = Callable[[int, int], nn.Module]  # (feature size F, attention size) -> module
POOLINGS: Registry[PoolingFactory] = Registry("pooling")
Pooled = tuple[torch.Tensor, "torch.Tensor | None"]


def _final_states(name: str, last: torch.Tensor | None) -> torch.Tensor:
    # the final states are computed by the encoder; the bag model has none
    if last is None:
        raise ConfigError(f"pooling={name} needs an encoder that returns final states (not the bag model)")
    return last  # (B, F)


Reduce = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]  # (outputs, mask, last) -> (B, F')


class FixedPooling(nn.Module):
    """A pooling without parameters: `reduce(outputs, mask, last)`, `width` times the feature size."""

    def __init__(self, reduce: Reduce, width: int, dim: int, attention_dim: int = 0) -> None:
        super().__init__()
        self.reduce, self.output_size = reduce, width * dim

    def forward(self, outputs: torch.Tensor, mask: torch.Tensor, last: torch.Tensor | None = None) -> Pooled:
        return self.reduce(outputs, mask, last), None


def _concat(outputs: torch.Tensor, mask: torch.Tensor, last: torch.Tensor | None) -> torch.Tensor:
    # the last state alone forgets early tokens, the reductions keep them; ULMFiT's classifier head reads this
    return torch.cat([_final_states("concat", last), masked_max(outputs, mask), masked_mean(outputs, mask)], dim=-1)


# name -> (output width in feature sizes, reduction over time)
_FIXED: dict[str, tuple[int, Reduce]] = {
    "last": (1, lambda outputs, mask, last: _final_states("last", last)),
    "mean": (1, lambda outputs, mask, last: masked_mean(outputs, mask)),
    "max": (1, lambda outputs, mask, last: masked_max(outputs, mask)),
    "concat": (3, _concat),
}
for _name, (_width, _reduce) in _FIXED.items():
    POOLINGS.register(_name)(partial(FixedPooling, _reduce, _width))


@POOLINGS.register("attention")
class AttentionPooling(nn.Module):
    """Additive attention (Bahdanau et al., 2015, as a seq2vec): weights over real tokens, then a weighted sum."""

    def __init__(self, dim: int, attention_dim: int = 64) -> None:
        super().__init__()
        self.output_size = dim
        self.proj = nn.Linear(dim, attention_dim)  # W (with bias)
        self.score = nn.Linear(attention_dim, 1, bias=False)  # v

    def forward(self, outputs: torch.Tensor, mask: torch.Tensor, last: torch.Tensor | None = None) -> Pooled:
        outputs = outputs.masked_fill(~mask.unsqueeze(-1), 0.0)  # (B, T, F): 0 * inf in the sum would be nan
        scores = self.score(torch.tanh(self.proj(outputs))).squeeze(-1)  # (B, T)
        # -inf, not a large negative number: exp(-inf) is exactly 0, so padding gets no weight at all
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)  # (B, T)
        return torch.bmm(weights.unsqueeze(1), outputs).squeeze(1), weights  # (B, F), (B, T)


def masked_max(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Element-wise max of values (B, T, F) over the positions where mask (B, T) is true -> (B, F)."""
    return values.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values (B, T, F) over the positions where mask (B, T) is true -> (B, F)."""
    m = mask.unsqueeze(-1).to(values.dtype)  # (B, T, 1)
    # where, not multiply: 0 * inf is nan, and padded vectors may hold anything
    summed = torch.where(m.bool(), values, values.new_zeros(())).sum(dim=1)  # (B, F)
    return summed / m.sum(dim=1).clamp_min(1.0)  # (B, F)


def make_pooling(name: str, dim: int, attention_dim: int) -> nn.Module:
    """Build the pooling registered as `name` over features of size `dim`."""
    return POOLINGS.get(name)(dim, attention_dim)
