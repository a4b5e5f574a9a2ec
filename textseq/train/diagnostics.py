"""Gradient diagnostics: per-layer gradient norms, and how the gradient of the last step's loss
fades (or blows up) as it flows back through time.

grad_through_time works against one small interface, so it fits any recurrent model:

    unroll(x) -> (hs, loss_T)

where `hs[t]` is the state the recurrence carries out of step t (a tensor, or a tuple such as
LSTM's (h, c)), built step by step so each is a node of the graph, and `loss_T` is the loss at
the last step only. `unroll_recurrence` builds such an unroll from an embedding, a recurrent
module (nn.RNN/LSTM/GRU or a *Cell, or anything with the same call convention) and a head;
`unroll_model` finds those parts on a model by their usual attribute names (the model's own
dropout modules are left out of the unroll).

    x_0 -> h_0 -> h_1 -> ... -> h_{T-1} -> head -> L_T
           ^ ||dL_T/dh_0||   ...   ^ ||dL_T/dh_{T-1}||
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from textseq.errors import ConfigError

Unroll = Callable[[torch.Tensor], tuple[Sequence[Any], torch.Tensor]]
_LAYER_SUFFIX = re.compile(r"_l(\d+)(_reverse)?$")  # nn.RNN/LSTM/GRU name their layers weight_hh_l0, ...


def layer_group(name: str) -> str:
    """'rnn.weight_hh_l1' -> 'rnn.l1'; 'decoder.bias' -> 'decoder': one group per top-level module
    and, inside fused recurrent modules, per layer."""
    parts = name.split(".")
    top = parts[0] if len(parts) > 1 else "(root)"
    m = _LAYER_SUFFIX.search(parts[-1])
    return f"{top}.l{m.group(1)}{'r' if m.group(2) else ''}" if m else top


def grad_norms_by_layer(model: nn.Module) -> dict[str, float]:
    """L2 norm of the gradient of each parameter group (see layer_group); parameters without grad are skipped."""
    squares: dict[str, float] = {}
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if p.grad is None or id(p) in seen:
            continue
        seen.add(id(p))
        key = layer_group(name)
        squares[key] = squares.get(key, 0.0) + float(p.grad.detach().float().pow(2).sum())
    return {k: v**0.5 for k, v in squares.items()}


def _norm(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().norm())
    return sum(_norm(v) ** 2 for v in value) ** 0.5


def _leaves(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for v in value for t in _leaves(v)]


def grad_through_time(unroll: Unroll, x: torch.Tensor) -> list[float]:
    """||dL_T/dh_t|| for every step t of `x` (index 0 = the first step), with L_T the last step's loss."""
    hs, loss = unroll(x)
    per_step = [[t for t in _leaves(h) if t.requires_grad] for h in hs]
    flat = [t for ts in per_step for t in ts]
    if not flat:
        raise ConfigError("unroll returned no hidden states that require grad; does the model have trainable parameters?")
    grads = torch.autograd.grad(loss, flat, allow_unused=True)
    norms, i = [], 0
    for ts in per_step:
        norms.append(_norm([g for g in grads[i : i + len(ts)] if g is not None]))
        i += len(ts)
    return norms


def _top_hidden(state: Any) -> torch.Tensor:
    """The hidden vector the head reads: h of (h, c), top layer of an (L, B, H) state."""
    h = state[0] if isinstance(state, tuple) else state
    return h[-1] if h.dim() == 3 else h


def unroll_recurrence(
    embed: nn.Module | None,
    recurrent: nn.Module,
    head: nn.Module,
    target: torch.Tensor | None = None,
) -> Unroll:
    """An `unroll` that feeds `x` (B, T[, D]) one step at a time through `recurrent`, carrying its state.

    `recurrent` is a cell (nn.RNNCellBase: `cell(x_t, state) -> state`) or a sequence module
    (nn.RNN/LSTM/GRU or a scratch module: `module(x, state) -> (out, state)`, batch-first unless
    it has `batch_first = False`). The loss at the last step is cross-entropy against `target`
    (B,) when given, else the mean of the head's output (enough to measure gradient flow)."""
    is_cell = isinstance(recurrent, nn.RNNCellBase)
    batch_first = getattr(recurrent, "batch_first", True)

    def unroll(x: torch.Tensor) -> tuple[list[Any], torch.Tensor]:
        emb = embed(x) if embed is not None else x  # (B, T, D)
        state, hs = None, []
        for t in range(emb.size(1)):
            x_t = emb[:, t]  # (B, D)
            if is_cell:
                state = recurrent(x_t, state)  # (B, H) or ((B, H), (B, H))
            else:
                x_t = x_t.unsqueeze(1 if batch_first else 0)  # a length-1 sequence
                _, state = recurrent(x_t, state)  # state (L, B, H) or ((L, B, H), (L, B, H))
            hs.append(state)
        logits = head(_top_hidden(state))  # (B, V)
        loss = F.cross_entropy(logits, target) if target is not None else logits.mean()
        return hs, loss

    return unroll


_PART_NAMES = {
    "embed": ("embed", "embedding", "embeddings", "encoder", "emb"),
    "recurrent": ("recurrent", "rnn", "lstm", "gru", "cell"),
    "head": ("head", "decoder", "output", "out", "classifier", "fc"),
}


def unroll_model(model: nn.Module, target: torch.Tensor | None = None) -> Unroll:
    """unroll_recurrence over parts found on `model` by name (embed/embedding, rnn/recurrent, head/decoder ...)."""
    parts = {}
    for role, names in _PART_NAMES.items():
        found = next((getattr(model, n) for n in names if isinstance(getattr(model, n, None), nn.Module)), None)
        if found is None and role != "embed":
            raise ConfigError(
                f"{type(model).__name__} has no {role} part (looked for attributes {', '.join(names)}); "
                "pass an unroll(x) -> (hidden_states, loss_T) callable to grad_through_time instead"
            )
        parts[role] = found
    proj = getattr(model, "proj", None)  # e.g. hidden -> embedding size before a tied decoder
    head = nn.Sequential(proj, parts["head"]) if isinstance(proj, nn.Module) else parts["head"]
    return unroll_recurrence(parts["embed"], parts["recurrent"], head, target)
