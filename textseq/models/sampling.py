"""Sampling from a recurrent language model: temperature, top-k and nucleus (top-p) filtering, and a
streaming `generate` that carries the recurrent state instead of re-reading the whole prefix.

    prime ids --model(prime)--> logits[-1], state --sample--> id --model(id, state)--> ... (yield each id)
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch
from torch import nn


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Set all but the k largest logits on the last axis to -inf (ties at the k-th value are kept)."""
    if k <= 0 or k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probabilities sum to >= p; -inf the rest."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (..., V)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above each one
    # a token is needed only while the tokens above it still fall short of p; the top one always is
    drop_sorted = mass_before >= p
    drop_sorted[..., 0] = False
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one id per row of `logits` (..., V) -> (...); temperature 0 means greedy (argmax)."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    logits = logits.float()
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1)  # (..., V)
    flat = probs.reshape(-1, probs.size(-1))  # (N, V)
    ids = torch.multinomial(flat, 1, generator=generator)  # (N, 1)
    return ids.reshape(probs.shape[:-1])


@torch.no_grad()
def generate(model: nn.Module, prime_ids: Sequence[int], length: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
             state: Any = None) -> Iterator[int]:
    """Stream `length` new token ids after `prime_ids`, feeding one token at a time with carried state.

    `model(x (1, T), state) -> (logits (1, T, V), state)`, as RecurrentLM. The model is put in eval
    mode for the duration and restored afterwards."""
    if len(prime_ids) == 0:
        raise ValueError("generate needs at least one prime token (e.g. a start-of-text id)")
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    was_training = model.training
    model.eval()
    try:
        x = torch.tensor([list(prime_ids)], dtype=torch.long, device=device)  # (1, T)
        for _ in range(length):
            logits, state = model(x, state)  # (1, T, V)
            next_id = sample_next(logits[0, -1], temperature, top_k, top_p, generator)  # ()
            yield int(next_id)
            x = next_id.view(1, 1)  # (1, 1): only the new token; the state holds the past
    finally:
        model.train(was_training)
