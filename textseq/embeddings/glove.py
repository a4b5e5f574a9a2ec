"""GloVe (Pennington et al., 2014), implemented in textseq: weighted least squares on log counts.

    J = sum over non-zero X_ij of f(X_ij) * (w_i . w~_j + b_i + b~_j - log X_ij)^2
    f(x) = min(1, (x / x_max)^alpha)

trained with AdaGrad over mini-batches of the non-zero entries, in vectorised torch. The final
vectors are W + W~ (the paper's recommendation).

AdaGrad is done by hand, sparsely and per entry, as GloVe's C code does it: a dense
`torch.optim.Adagrad` would touch all V x D accumulators every step, and autograd would build the
same gathers and scatters with more overhead. Each non-zero entry of a batch contributes its own
AdaGrad step to the rows it touches, computed from the batch's starting values (as in Hogwild
training with many threads), normalised by the accumulator *after* all of the batch's squared
gradients are in, which bounds the summed step of a row that occurs k times by sqrt(k):

    acc[r] += sum over the batch's entries e of row r of (lr * g_e)^2      (index_add_)
    W[r]   -= sum_e lr * g_e / sqrt(acc[r])                                (index_add_)

with acc starting at `initial_accumulator` (1). As in GloVe's C code, the accumulator sums the
squares of the lr-scaled gradients: the step stays close to plain SGD's lr * g until a row has
gathered about 1 / lr^2 worth of squared gradient; summing unscaled squares (acc += g^2) starves
frequent words. In the code the table holds acc / lr^2, so the step is -g / sqrt(acc / lr^2) with
no multiplication by lr. Strict mini-batch AdaGrad (a row's gradients summed before its step) was
tried and lost. The measurements behind both choices are in benchmarks/RESULTS.md ("GloVe design
choices").

The entries are shuffled once into fixed batches (as GloVe's `shuffle` tool shuffles the file
once), and each epoch visits the batches in a new random order: a batch is then a run of slices,
not a random gather from the N-long arrays. Small batches (a few thousand entries) keep the
(2B, D+2) working buffers in the cache and are the fastest; larger ones are slower per update and
reach a higher loss per epoch. With `threads` > 1, that many Python threads run batches on the
shared tables at once, each op single-threaded (Hogwild, as GloVe's C code; torch releases the GIL
inside its ops), since torch's own multi-threaded index_add_ was slower on two threads than on
one (RESULTS.md). Concurrent updates of a row may then lose one another's contribution, so runs with
threads > 1 are not bit-reproducible.

W and C are the two halves of one (2V, D+2) table, so one index_select and one index_add_ serve
both sides of a batch: rows 0..V-1 are W, rows V..2V-1 are C.
Biases live in the tables as extra columns, so one row-wise dot gives the whole prediction:

    W row = [ w_i | b_i | 1  ]        C row = [ w~_j | 1 | b~_j ]
    W_i . C_j = w_i . w~_j + b_i + b~_j

and the gradient of a row is f*diff times the other row, with the constant column's masked out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
    batch_size: int = Field(4096, ge=1, description="non-zero entries per step (a few thousand is fastest)")
    max_memory_mb: float = Field(1024, gt=0, description="co-occurrence counting memory before spilling to disk")
    threads: int | None = Field(None, ge=1, description="Hogwild threads (default: torch.get_num_threads())")
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
    torch.set_num_threads(1)  # parallel over batches (Hogwild threads), not inside each op
    try:
        return _train(cooc, config, on_epoch, threads)
    finally:
        torch.set_num_threads(previous_threads)


def _train(cooc: Cooccurrence, cfg: GloveConfig, on_epoch: Callable[[int, float], None] | None, threads: int) -> GloveResult:
    import torch

    gen = torch.Generator().manual_seed(cfg.seed)
    V, D = cooc.vocab_size, cfg.dim
    table = _initial_table(V, D, gen)  # (2V, D+2): W above C
    acc = torch.full_like(table, cfg.initial_accumulator / cfg.lr ** 2)  # the accumulators / lr^2
    n = cooc.nnz
    losses: list[float] = []
    start = time.perf_counter()
    batches = _shuffled_batches(cooc, cfg, gen)
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(len(batches), generator=gen).tolist()
        mean = _epoch(table, acc, [batches[k] for k in order], D, threads) / n
        if not math.isfinite(mean) or not bool(torch.isfinite(table).all()):
            raise TextseqError(f"GloVe training diverged at epoch {epoch}: the loss became {mean} "
                               f"(lower glove.lr={cfg.lr}, or check the co-occurrence values)")
        losses.append(mean)
        if on_epoch is not None:
            on_epoch(epoch, mean)
    seconds = time.perf_counter() - start
    vectors = (table[:V, :D] + table[V:, :D]).numpy().astype(np.float32)  # (V, D): W + W~
    return GloveResult(vectors, losses, seconds, n * cfg.epochs, threads)


def _shuffled_batches(cooc: Cooccurrence, cfg: GloveConfig, gen: torch.Generator) -> list[tuple]:  # noqa: F821
    """The non-zero entries shuffled once into batches of (idx, log X, f(X)), each contiguous in memory.

    idx (2B,) holds the table rows of the batch's W_i, then those of its C_j (V + j). Shuffling
    once, as GloVe's `shuffle` tool does, turns the per-batch random gathers from the N-long
    arrays (a cache miss per entry and array) into slices."""
    import torch

    perm = torch.randperm(cooc.nnz, generator=gen)
    # np.array copies: the COO may be a read-only memory map of the merged shards.
    rows = torch.from_numpy(np.array(cooc.rows, dtype=np.int64))[perm]  # (N,)
    cols = torch.from_numpy(np.array(cooc.cols, dtype=np.int64))[perm].add_(cooc.vocab_size)  # (N,)
    x = torch.from_numpy(np.array(cooc.values, dtype=np.float32))[perm]  # (N,)
    log_x, f_x = x.log(), weighting(x, cfg.x_max, cfg.alpha)
    B = cfg.batch_size
    return [(torch.cat([rows[s:s + B], cols[s:s + B]]), log_x[s:s + B], f_x[s:s + B]) for s in range(0, cooc.nnz, B)]


def _initial_table(V: int, D: int, gen: torch.Generator) -> torch.Tensor:  # noqa: F821
    """[W; C] as GloVe's C code starts them: uniform in [-0.5, 0.5] / D, plus the constant-1 columns."""
    import torch

    table = (torch.rand(2 * V, D + 2, generator=gen) - 0.5) / D  # (2V, D+2)
    table[:V, D + 1] = 1.0  # W rows: [w | b | 1]
    table[V:, D] = 1.0  # C rows: [w~ | 1 | b~]
    return table


def _epoch(table, acc, batches: list[tuple], D: int, threads: int) -> float:
    """Run one epoch's batches on `threads` Hogwild threads; returns the summed weighted loss."""
    if threads == 1:
        return _run_batches(table, acc, batches, D)
    with ThreadPoolExecutor(threads) as pool:
        parts = [pool.submit(_run_batches, table, acc, batches[k::threads], D) for k in range(threads)]
        return sum(p.result() for p in parts)


def _run_batches(table, acc, batches: list[tuple], D: int) -> float:
    """Step through `batches` with one pair of work buffers: fresh (2B, D+2) tensors every step
    would be fresh pages from the allocator each time (measured: about 1.7x the step time)."""
    import torch

    if not batches:
        return 0.0
    rows = torch.empty(max(idx.shape[0] for idx, _, _ in batches), D + 2)  # the short last batch may come first
    grad = torch.empty_like(rows)
    return sum(_step(table, acc, idx, log_x, f_x, D, rows, grad) for idx, log_x, f_x in batches)


def _step(table, acc, idx, log_x, f_x, D: int, rows_buf, grad_buf) -> float:
    """One AdaGrad step on a batch of B entries; idx (2B,) = the W rows, then the C rows.

    Returns the batch's summed weighted loss. rows_buf and grad_buf are (>= 2B, D+2) scratch;
    `acc` holds the accumulators divided by lr^2, so that the step is -g / sqrt(acc)."""
    import torch

    B = log_x.shape[0]
    rows = torch.index_select(table, 0, idx, out=rows_buf[:2 * B])  # (2B, D+2): W_i above C_j
    w, c = rows[:B], rows[B:]
    diff = torch.linalg.vecdot(w, c).sub_(log_x)  # (B,): w.w~ + b + b~ - log x
    fdiff = f_x * diff  # (B,)
    loss = float(fdiff.dot(diff))
    # -d/dW_i = -fdiff * C_j and -d/dC_j = -fdiff * W_i (the constant 2 is folded into lr); the
    # constant-1 columns get no gradient, so AdaGrad leaves them at exactly 1.
    fdiff.neg_()
    step = grad_buf[:2 * B]
    torch.mul(c, fdiff[:, None], out=step[:B])
    torch.mul(w, fdiff[:, None], out=step[B:])
    step[:B, D + 1] = 0.0
    step[B:, D] = 0.0
    # `rows` is free now: it holds the squared gradients, then the accumulators after the batch.
    acc.index_add_(0, idx, torch.mul(step, step, out=rows))
    table.index_add_(0, idx, step.mul_(torch.index_select(acc, 0, idx, out=rows).rsqrt_()))
    return loss
