"""Language-model batches: one long token stream cut into B parallel rows, read in windows of T.

Training (truncated backpropagation through time). The stream, after a per-epoch start offset, is
cut into B contiguous rows of L tokens each; the few tokens that do not fill a row are left over:

    stream  a b | c d e f g h | i j k l m n | o p q r s t | u v w x y z     offset 2, B = 4 -> L = 6
            skip      row 0         row 1         row 2         row 3        row b = stream[o+bL : o+(b+1)L]

                      window 0  window 1       T = 3: row 0 gives x = c d e, y = d e f  (window 0)
            row 0     c d e     f g h                         x = f g,   y = g h    (window 1, short:
            row 1     i j k     l m n                         L - 1 = 5 inputs, 3 + 2)
            row 2     o p q     r s t
            row 3     u v w     x y z        left over: a b (the offset); nothing at the end here

Window w gives x = rows[:, wT : wT+t] and y = rows[:, wT+1 : wT+t+1] (y is x shifted by one), with
t = T except the last window of an epoch, which holds the remaining L-1 - wT inputs: it is kept
(shorter), never dropped. Row b of window w+1 continues row b of window w, so the model carries its
hidden state across windows (detached by the trainer) and drops it when `reset` is True, on the
first window of an epoch. The offset, drawn in [0, T) from a generator seeded by (seed, epoch),
moves the window boundaries every epoch (so no token is always first in its window) and is
reproducible, hence resumable. Each epoch `plan()` says how many tokens the offset skipped and how
many did not fill a row (< B): they are counted, not silently lost.

Several processes (`shard(r, W)`): the stream is cut into W x B rows as one process with batch W x B
would cut it, and rank r trains rows [rB, (r+1)B), carrying its own hidden state: the W ranks
together take the steps of one process at batch W x B.

Evaluation (`LMEvalBatches`): no offset and nothing dropped: the n-1 targets of the stream are split
into B rows whose lengths differ by at most one, so every token after the first is predicted exactly
once. Where a row is one shorter, the last window's target is IGNORE_INDEX (-100, which
`F.cross_entropy` ignores by default), and `LMBatch.count` is the number of real targets.

Only the current window is copied out of the (memory-mapped) corpus and converted to int64.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterator, NamedTuple

import numpy as np
import torch

from textseq.data.encode import EncodedCorpus
from textseq.errors import ConfigError, InputError
from textseq.train.protocol import check_batch_state

IGNORE_INDEX = -100  # torch.nn.functional.cross_entropy's default ignore_index


class LMBatch(NamedTuple):
    """One window of B rows."""

    x: torch.Tensor  # (B, t) int64 input ids
    y: torch.Tensor  # (B, t) int64 next-token ids; IGNORE_INDEX where a row has no target (eval only)
    reset: bool | torch.Tensor  # True: every row starts fresh (epoch start); a (B,) bool tensor: those rows do
    count: int  # real targets in y (B * t unless padded); the StepOutput.count of this batch


@dataclass(frozen=True)
class EpochPlan:
    """How an epoch cuts the stream (training)."""

    offset: int  # tokens skipped at the start
    row_len: int  # L: tokens per row
    windows: int  # windows in the epoch, the last one possibly shorter
    last_len: int  # inputs in the last window (1..T)
    dropped_tail: int  # tokens after the B full rows (< B)


def min_tokens(batch_size: int, bptt: int, random_offset: bool = True) -> int:
    """Smallest corpus giving at least one full (B, T) window in every epoch: each row needs T inputs
    plus one target, B*(T+1), and a random offset may skip up to T-1 tokens first."""
    return batch_size * (bptt + 1) + (bptt - 1 if random_offset else 0)


def plan_epoch(n_tokens: int, batch_size: int, bptt: int, offset: int = 0) -> EpochPlan:
    """Cut n_tokens (after `offset`) into batch_size rows and bptt windows."""
    row_len = (n_tokens - offset) // batch_size
    inputs = row_len - 1  # the last token of a row is only a target
    windows = -(-inputs // bptt) if inputs > 0 else 0
    last = inputs - (windows - 1) * bptt if windows else 0
    return EpochPlan(offset, row_len, windows, last, n_tokens - offset - batch_size * row_len)


def in_reading_order(tokens: Any, direction: str) -> Any:
    """The stream as a model of `direction` reads it: unchanged (forward) or reversed (backward), which
    for an array or memmap is a view, not a copy. Documents then run last to first, each one read from
    its end, and the separator after each document in the file comes before it in the reversed stream."""
    if direction == "forward":
        return tokens
    if direction != "backward":
        raise ConfigError(f"direction must be 'forward' or 'backward', got {direction!r}")
    arr, _ = _stream(tokens)
    return arr[::-1]


def count_windows(n_tokens: int, batch_size: int, bptt: int, offset: int = 0) -> int:
    """Training windows in an epoch with this offset (the last may be shorter than bptt)."""
    return plan_epoch(n_tokens, batch_size, bptt, offset).windows


def count_eval_windows(n_tokens: int, batch_size: int, bptt: int) -> int:
    """Windows `LMEvalBatches` yields for a stream of n_tokens."""
    longest = -(-(n_tokens - 1) // batch_size)
    return -(-longest // bptt)


def _stream(tokens: Any) -> tuple[np.ndarray, str]:
    if isinstance(tokens, EncodedCorpus):
        return tokens.tokens, str(tokens.path)
    arr = tokens if isinstance(tokens, np.ndarray) else np.asarray(tokens)
    if arr.ndim != 1 or arr.dtype.kind not in "ui":
        raise InputError(f"corpus tokens must be a 1-D integer array, got shape {arr.shape} dtype {arr.dtype}")
    return arr, f"<{len(arr)} tokens>"


def _check_sizes(batch_size: int, bptt: int) -> None:
    if batch_size < 1 or bptt < 1:
        raise ConfigError(f"batch_size and bptt must be >= 1, got batch_size={batch_size}, bptt={bptt}")


def _to_tensors(window: np.ndarray, device: torch.device | None) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.from_numpy(np.ascontiguousarray(window, dtype=np.int64))  # (B, t+1), a copy of the window only
    x, y = w[:, :-1].contiguous(), w[:, 1:].contiguous()  # (B, t) each
    if device is not None and device.type != "cpu":
        if device.type == "cuda":  # pinned pages let the copy overlap with compute
            x, y = x.pin_memory(), y.pin_memory()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    return x, y


class LMBatches:
    """Training windows over a token stream; implements the `Batches` protocol.

    `set_epoch(e)` moves to epoch e at window 0 (a no-op when already in epoch e, so calling it after
    `load_state_dict` keeps the resumed position); finishing an epoch moves to the next one."""

    def __init__(
        self,
        tokens: Any,
        batch_size: int,
        bptt: int,
        seed: int = 0,
        random_offset: bool = True,
        device: str | torch.device | None = None,
        reset_every: int | None = None,
    ) -> None:
        _check_sizes(batch_size, bptt)
        if reset_every is not None and reset_every < 1:
            raise ConfigError(f"reset_every must be >= 1 window, got {reset_every}")
        if seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        self.tokens, self.source = _stream(tokens)
        self.batch_size, self.bptt, self.seed, self.random_offset = batch_size, bptt, seed, random_offset
        # Each row's state is dropped at random, on average every `reset_every` windows. Carried
        # through a whole epoch, a model otherwise almost never starts from a zero state, and then
        # fails exactly where generation and evaluation begin (a fresh state, often at a line break).
        self.reset_every = reset_every
        self.device = torch.device(device) if device is not None else None
        need = min_tokens(batch_size, bptt, random_offset)
        if len(self.tokens) < need:
            extra = f" + {bptt - 1} for the random start offset" if random_offset else ""
            raise InputError(
                f"corpus {self.source} has {len(self.tokens)} tokens; training batches with batch_size={batch_size}, "
                f"bptt={bptt} need at least {need} = {batch_size} rows x ({bptt} inputs + 1 target){extra}. "
                f"Use a larger corpus or a smaller batch_size/bptt."
            )
        self.epoch, self.window = 0, 0
        self.rank, self.world_size = 0, 1

    def shard(self, rank: int, world_size: int) -> None:
        """Train rows [rank*B, (rank+1)*B) of the world_size*B rows the stream is cut into."""
        need = min_tokens(world_size * self.batch_size, self.bptt, self.random_offset)
        if len(self.tokens) < need:
            raise InputError(f"corpus {self.source} has {len(self.tokens)} tokens; {world_size} processes x batch_size="
                             f"{self.batch_size} with bptt={self.bptt} need at least {need}. Use fewer processes, "
                             "a smaller batch_size/bptt or a larger corpus.")
        self.rank, self.world_size = rank, world_size

    def offset(self, epoch: int) -> int:
        """The start offset of `epoch`, in [0, bptt): the same for the same (seed, epoch)."""
        if not self.random_offset:
            return 0
        return int(np.random.default_rng([self.seed, epoch]).integers(self.bptt))

    def plan(self, epoch: int | None = None) -> EpochPlan:
        """How `epoch` (default: the current one) cuts the stream."""
        epoch = self.epoch if epoch is None else epoch
        return plan_epoch(len(self.tokens), self.world_size * self.batch_size, self.bptt, self.offset(epoch))

    def __len__(self) -> int:
        return self.plan().windows

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.window = epoch, 0

    def __iter__(self) -> Iterator[LMBatch]:
        plan, B, T = self.plan(), self.batch_size, self.bptt
        W, r = self.world_size, self.rank
        rows = self.tokens[plan.offset : plan.offset + W * B * plan.row_len].reshape(W * B, plan.row_len)  # (WB, L) view
        rows = rows[r * B : (r + 1) * B]  # this rank's (B, L)
        while self.window < plan.windows:
            i = self.window * T
            t = min(T, plan.row_len - 1 - i)
            x, y = _to_tensors(rows[:, i : i + t + 1], self.device)  # (B, t) each
            reset = True if i == 0 else self._row_resets(self.window)
            self.window += 1  # counted before yielding: state_dict() now points at the next window
            yield LMBatch(x, y, reset, B * t)
        self.epoch, self.window = self.epoch + 1, 0

    def _row_resets(self, window: int) -> bool | torch.Tensor:
        """The rows that start fresh at `window`: drawn from (seed, epoch, window), so resumable."""
        if self.reset_every is None:
            return False
        B, r = self.batch_size, self.rank  # drawn for all W*B rows: the same flags as one process at batch W*B
        flags = np.random.default_rng([self.seed, self.epoch, window]).random(self.world_size * B) < 1.0 / self.reset_every
        flags = flags[r * B : (r + 1) * B]
        if not flags.any():
            return False
        out = torch.from_numpy(flags)
        return out.to(self.device) if self.device is not None else out

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "window": self.window,
            "offset": self.offset(self.epoch),
            "batch_size": self.batch_size,
            "bptt": self.bptt,
            "seed": self.seed,
            "random_offset": self.random_offset,
            "tokens": len(self.tokens),
            **({"world_size": self.world_size} if self.world_size > 1 else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_batch_state(state, self.state_dict(), ("batch_size", "bptt", "seed", "random_offset", "tokens", "world_size"))
        self.epoch, self.window = int(state["epoch"]), int(state["window"])
        if "offset" in state and state["offset"] != self.offset(self.epoch):
            raise ConfigError(f"batch state has offset {state['offset']} for epoch {self.epoch}, but this seed gives {self.offset(self.epoch)}")

    def describe(self) -> dict[str, Any]:
        """The current epoch's plan as plain data, for logs."""
        return {"source": self.source, "tokens": len(self.tokens), "epoch": self.epoch, **asdict(self.plan())}


class LMEvalBatches:
    """Validation/test windows: no offset, no shuffling, every target exactly once (see module doc)."""

    def __init__(self, tokens: Any, batch_size: int, bptt: int, device: str | torch.device | None = None) -> None:
        _check_sizes(batch_size, bptt)
        self.tokens, self.source = _stream(tokens)
        self.batch_size, self.bptt = batch_size, bptt
        self.device = torch.device(device) if device is not None else None
        n = len(self.tokens)
        if n < batch_size + 1:
            raise InputError(
                f"corpus {self.source} has {n} tokens; evaluation with batch_size={batch_size} needs at least "
                f"{batch_size + 1} (one input and one target per row). Use a smaller batch_size."
            )
        targets = n - 1
        self.row_lens = np.full(batch_size, targets // batch_size, dtype=np.int64)
        self.row_lens[: targets % batch_size] += 1  # (B,) inputs per row, differing by at most one
        self.row_starts = np.concatenate([[0], np.cumsum(self.row_lens)[:-1]])  # (B,)
        self.windows = count_eval_windows(n, batch_size, bptt)
        self.window = 0

    def __len__(self) -> int:
        return self.windows

    def __iter__(self) -> Iterator[LMBatch]:
        longest, T = int(self.row_lens[0]), self.bptt
        while self.window < self.windows:
            i = self.window * T
            t = min(T, longest - i)
            pos = self.row_starts[:, None] + i + np.arange(t + 1)  # (B, t+1) stream positions
            window = self.tokens[np.minimum(pos, len(self.tokens) - 1)]  # (B, t+1), clipped reads only
            x, y = _to_tensors(window, None)
            real = torch.from_numpy(i + np.arange(t) < self.row_lens[:, None])  # (B, t)
            y[~real] = IGNORE_INDEX
            if self.device is not None:
                x, y = x.to(self.device), y.to(self.device)
            self.window += 1
            yield LMBatch(x, y, i == 0, int(real.sum()))
        self.window = 0

    def set_epoch(self, epoch: int) -> None:
        """Evaluation is the same every epoch."""

    def state_dict(self) -> dict[str, Any]:
        return {"window": self.window}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.window = int(state.get("window", 0))
