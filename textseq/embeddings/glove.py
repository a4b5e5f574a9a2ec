"""GloVe (Pennington et al., 2014), implemented in textseq: weighted least squares on log counts.

    J = sum over non-zero X_ij of f(X_ij) * (w_i . w~_j + b_i + b~_j - log X_ij)^2
    f(x) = min(1, (x / x_max)^alpha)

trained with AdaGrad over shuffled mini-batches of the non-zero entries, in vectorised torch.
The final vectors are W + W~ (the paper's recommendation).

AdaGrad is done by hand, sparsely and per entry, as GloVe's C code does it: a dense
`torch.optim.Adagrad` would touch all V x D accumulators every step, and autograd would build the
same gathers and scatters with more overhead. Each non-zero entry of a batch contributes its own
AdaGrad step to the rows it touches, computed from the batch's starting values (as in Hogwild
training with many threads), normalised by the accumulator *after* all of the batch's squared
gradients are in, which bounds the summed step of a row that occurs k times by sqrt(k) * lr:

    acc[r] += sum over the batch's entries e of row r of g_e^2        (index_add_)
    W[r]   -= lr * sum_e g_e / sqrt(acc[r])                           (index_add_)

(Summing a row's gradients before the step, i.e. strict mini-batch AdaGrad, gave a higher loss
after the same number of epochs and lower analogy and similarity scores on 1M IMDB tokens.)

Biases live in the tables as extra columns, so one row-wise dot gives the whole prediction:

    W row = [ w_i | b_i | 1  ]        C row = [ w~_j | 1 | b~_j ]
    W_i . C_j = w_i . w~_j + b_i + b~_j

and the gradient of a row is f*diff times the other row, with the constant column's masked out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from textseq.config import StrictModel
from textseq.embeddings.cooccur import Cooccurrence
from textseq.errors import InputError, TextseqError


class GloveConfig(StrictModel):
    """GloVe settings (the `glove:` section of an embed config)."""

    dim: int = Field(100, ge=1, description="vector size")
    window: int = Field(10, ge=1, description="context words on each side, weighted 1/distance")
    symmetric: bool = Field(True, description="count left and right context (False: left only)")
    min_count: int = Field(5, ge=1, description="drop words seen fewer times")
    max_vocab: int | None = Field(None, ge=1, description="keep at most this many most frequent words")
    x_max: float = Field(100.0, gt=0, description="counts at or above this get full weight")
    alpha: float = Field(0.75, gt=0, description="exponent of the weighting function")
    lr: float = Field(0.05, gt=0, description="AdaGrad learning rate")
    initial_accumulator: float = Field(1.0, gt=0, description="AdaGrad accumulator start (as GloVe's C code)")
    epochs: int = Field(25, ge=1)
    batch_size: int = Field(1 << 15, ge=1, description="non-zero entries per step (2^14..2^17 is fast)")
    max_memory_mb: float = Field(1024, gt=0, description="co-occurrence counting memory before spilling to disk")
    threads: int | None = Field(None, ge=1, description="torch threads (default: torch's own setting)")
    seed: int = 0


@dataclass
class GloveResult:
    """Trained vectors (W + W~) and what the training measured."""

    vectors: np.ndarray  # (V, D) float32
    losses: list[float]  # mean weighted loss per epoch
    seconds: float
    updates: int  # non-zero entries processed, over all epochs
    threads: int
    extra: dict = field(default_factory=dict)

    @property
    def updates_per_second(self) -> float:
        return self.updates / self.seconds if self.seconds > 0 else float("nan")

    @property
    def updates_per_second_per_core(self) -> float:
        return self.updates_per_second / self.threads


def weighting(x: torch.Tensor, x_max: float, alpha: float) -> torch.Tensor:  # noqa: F821
    """f(x) = min(1, (x / x_max)^alpha)."""
    return (x / x_max).pow(alpha).clamp_(max=1.0)


def train_glove(cooc: Cooccurrence, config: GloveConfig,
                on_epoch: Callable[[int, float], None] | None = None) -> GloveResult:
    """Fit GloVe to a co-occurrence matrix; raises TextseqError naming the epoch if the loss goes NaN."""
    import torch

    if cooc.nnz == 0:
        raise InputError("the co-occurrence matrix is empty: no two vocabulary words share a window")
    threads = config.threads or torch.get_num_threads()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _train(cooc, config, on_epoch, threads)
    finally:
        torch.set_num_threads(previous_threads)


def _train(cooc: Cooccurrence, cfg: GloveConfig, on_epoch: Callable[[int, float], None] | None, threads: int) -> GloveResult:
    import torch

    gen = torch.Generator().manual_seed(cfg.seed)
    V, D = cooc.vocab_size, cfg.dim
    # Copies (np.array): the COO may be a read-only memory map of the merged shards.
    rows = torch.from_numpy(np.array(cooc.rows, dtype=np.int64))  # (N,)
    cols = torch.from_numpy(np.array(cooc.cols, dtype=np.int64))  # (N,)
    x = torch.from_numpy(np.array(cooc.values, dtype=np.float32))  # (N,)
    log_x = x.log()  # (N,)
    f_x = weighting(x, cfg.x_max, cfg.alpha)  # (N,)
    del x

    # As GloVe's C code: vectors and biases uniform in [-0.5, 0.5] / D, accumulators start at 1.
    W = (torch.rand(V, D + 2, generator=gen) - 0.5) / D  # (V, D+2): [w | b | 1]
    C = (torch.rand(V, D + 2, generator=gen) - 0.5) / D  # (V, D+2): [w~ | 1 | b~]
    W[:, D + 1] = 1.0
    C[:, D] = 1.0
    acc_W = torch.full((V, D + 2), cfg.initial_accumulator)
    acc_C = torch.full((V, D + 2), cfg.initial_accumulator)

    n = rows.shape[0]
    losses: list[float] = []
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, cfg.batch_size):
            idx = perm[s:s + cfg.batch_size]  # (B,)
            total += _step(W, C, acc_W, acc_C, rows[idx], cols[idx], log_x[idx], f_x[idx], cfg.lr, D)
        mean = total / n
        if not math.isfinite(mean) or not bool(torch.isfinite(W).all() and torch.isfinite(C).all()):
            raise TextseqError(f"GloVe training diverged at epoch {epoch}: the loss became {mean} "
                               f"(lower glove.lr={cfg.lr}, or check the co-occurrence values)")
        losses.append(mean)
        if on_epoch is not None:
            on_epoch(epoch, mean)
    seconds = time.perf_counter() - start
    vectors = (W[:, :D] + C[:, :D]).numpy().astype(np.float32)  # (V, D)
    return GloveResult(vectors, losses, seconds, n * cfg.epochs, threads)


def _step(W, C, acc_W, acc_C, i, j, log_x, f_x, lr: float, D: int) -> float:
    """One AdaGrad step on a batch of entries; returns its summed weighted loss."""
    import torch

    wi = W.index_select(0, i)  # (B, D+2)
    cj = C.index_select(0, j)  # (B, D+2)
    diff = torch.linalg.vecdot(wi, cj) - log_x  # (B,): w.w~ + b + b~ - log x
    fdiff = f_x * diff  # (B,)
    loss = float(fdiff.dot(diff))
    # d/dW_i = fdiff * C_j and d/dC_j = fdiff * W_i (the constant 2 is folded into lr); the
    # constant-1 columns get no gradient, so AdaGrad leaves them at exactly 1.
    g_w = cj.mul_(fdiff[:, None])  # (B, D+2), reusing cj's memory: it is not needed any more
    g_w[:, D + 1] = 0.0
    g_c = wi.mul_(fdiff[:, None])  # (B, D+2)
    g_c[:, D] = 0.0
    _adagrad_entries(W, acc_W, i, g_w, lr)
    _adagrad_entries(C, acc_C, j, g_c, lr)
    return loss


def _adagrad_entries(P, acc, idx, grad, lr: float) -> None:
    """Per-entry sparse AdaGrad on the rows `idx` of P (duplicates allowed); consumes `grad`."""
    acc.index_add_(0, idx, grad * grad)
    P.index_add_(0, idx, grad.mul_(-lr).div_(acc.index_select(0, idx).sqrt_()))
