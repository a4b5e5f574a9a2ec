"""How far back does the gradient reach? ||dL_T/dh_t|| for every step t of one window, for a trained
model or a freshly initialised cell, plotted on a log scale (textseq.train.diagnostics does the work).

A plain tanh RNN's curve falls off exponentially as t moves away from T (vanishing gradients); an
LSTM's additive cell state keeps it much flatter, which is why it can learn longer dependencies. minGRU / minLSTM have no recurrent weights at all:
dh_t/dh_{t-1} is the diagonal a_t (a forget gate between 0 and 1), so their curve decays only as
fast as the gates forget, never through a weight matrix's spectrum or a saturated tanh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from textseq.errors import ConfigError
from textseq.models.lm import LMConfig, RecurrentLM
from textseq.models.recurrent import FORGET_BLOCK, recurrent_layers
from textseq.train.diagnostics import grad_through_time, unroll_model
from textseq.train.plot import write_figure

INITS = ("torch", "textseq")


def fresh_model(cell: str, vocab_size: int, hidden_size: int = 128, emb_dim: int = 64, num_layers: int = 1,
                seed: int = 0, init: str = "torch", forget_bias: float = 1.0) -> RecurrentLM:
    """A newly initialised RecurrentLM (no dropout) with the given cell.

    init="torch": the recurrent layer gets PyTorch's own init (every weight uniform in +-1/sqrt(H),
    the textbook setting where a tanh RNN's gradient vanishes), plus `forget_bias` on the LSTM forget
    gate. init="textseq": RecurrentLM's init (orthogonal recurrent blocks), which keeps even a plain
    RNN's gradient alive at the start of training."""
    if init not in INITS:
        raise ConfigError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
    torch.manual_seed(seed)
    config = LMConfig(vocab_size=vocab_size, cell=cell, emb_dim=emb_dim, hidden_size=hidden_size, num_layers=num_layers,
                      dropout_emb=0.0, dropout_layers=0.0, dropout_out=0.0, forget_bias=forget_bias)
    model = RecurrentLM(config).eval()
    if init == "torch":
        bound = hidden_size ** -0.5
        with torch.no_grad():  # only the cells' own weights: a residual block's norms and MLP keep theirs
            for layer in recurrent_layers(model.rnn):
                forget = FORGET_BLOCK.get(layer.mode)
                for name, param in layer.named_parameters():
                    if name.startswith(("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
                        param.uniform_(-bound, bound)
                    if forget is not None and name.startswith("bias_ih"):
                        param[forget * hidden_size:(forget + 1) * hidden_size] += forget_bias
    return model


def probe_windows(tokens: Sequence[int] | None, vocab_size: int, length: int, batch_size: int = 8, seed: int = 0) -> torch.Tensor:
    """(B, length + 1) ids: windows of `tokens` at evenly spaced starts, or uniform random ids."""
    g = torch.Generator().manual_seed(seed)
    if tokens is None or len(tokens) < length + 1:
        return torch.randint(0, vocab_size, (batch_size, length + 1), generator=g)
    t = torch.from_numpy(np.asarray(tokens, dtype=np.int64))  # (N,)
    starts = torch.linspace(0, len(t) - length - 1, batch_size).long()  # (B,)
    return torch.stack([t[s : s + length + 1] for s in starts.tolist()])  # (B, length + 1)


def gradient_probe(model: torch.nn.Module, windows: torch.Tensor) -> list[float]:
    """||dL_T/dh_t|| for t = 0..T-1, with L_T the loss of predicting windows[:, T] from windows[:, :T]."""
    x, target = windows[:, :-1], windows[:, -1]  # (B, T), (B,)
    was_training = model.training
    model.eval()
    try:
        return grad_through_time(unroll_model(model, target), x)
    finally:
        model.train(was_training)


def plot_probe(curves: dict[str, list[float]], path: str | Path, title: str = "") -> Path:
    """One log-scale line per curve: x = step t, y = ||dL_T/dh_t||."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, norms in curves.items():
        ax.semilogy(range(len(norms)), [max(n, 1e-30) for n in norms], label=label)
    ax.set_xlabel("step t (the loss is at the last step T)")
    ax.set_ylabel("||dL_T / dh_t||")
    ax.set_title(title or "gradient of the last step's loss through time")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return write_figure(fig, path)


def ratio(norms: list[float]) -> float:
    """first / last: how much of the gradient at the end survives back to step 0."""
    return norms[0] / norms[-1] if norms and norms[-1] > 0 else float("nan")
