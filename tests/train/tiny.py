"""Tiny models and data for the trainer tests (the real LM and data modules are tested elsewhere).

Also a runnable script, used by the SIGKILL resume test to train in a separate process:

    python -m tests.train.tiny RUN_DIR [--resume] [--sleep SECONDS]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from textseq.train.callbacks import Callback
from textseq.train.config import TrainConfig
from textseq.train.metrics import evaluate_batches
from textseq.train.protocol import StepOutput


class TokenStream:
    """A fixed synthetic token stream in (B, T) windows, in order; each epoch starts at a random
    offset drawn from a generator seeded by (seed, epoch), like the real LM data."""

    def __init__(self, n_tokens: int = 300, vocab: int = 11, batch_size: int = 4, bptt: int = 8, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        # Mostly "next = previous + 1 (mod V)" with noise, so there is something to learn.
        steps = torch.where(torch.rand(n_tokens, generator=g) < 0.8, 1, torch.randint(0, vocab, (n_tokens,), generator=g))
        self.tokens = torch.cumsum(steps, 0) % vocab
        self.vocab, self.batch_size, self.bptt, self.seed = vocab, batch_size, bptt, seed
        self.epoch, self.pos = 0, 0

    def _windows(self) -> list[dict[str, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        offset = int(torch.randint(0, self.bptt, (1,), generator=g))
        data = self.tokens[offset:]
        cols = (len(data) - 1) // self.batch_size
        x = data[: cols * self.batch_size].view(self.batch_size, cols)  # (B, cols)
        y = data[1 : cols * self.batch_size + 1].view(self.batch_size, cols)
        return [{"x": x[:, i : i + self.bptt], "y": y[:, i : i + self.bptt]} for i in range(0, cols - self.bptt + 1, self.bptt)]

    def __len__(self) -> int:
        return len(self._windows())

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.pos = epoch, 0

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        windows = self._windows()
        while self.pos < len(windows):
            self.pos += 1  # before yielding: state_dict() between batches = "next batch to give"
            yield windows[self.pos - 1]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.pos = state["epoch"], state["pos"]


class ListBatches:
    """A fixed list of batches, shuffled per epoch by a generator seeded by the epoch."""

    def __init__(self, batches: list[Any], shuffle: bool = True) -> None:
        self.batches, self.shuffle = batches, shuffle
        self.epoch, self.pos = 0, 0

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(len(self.batches)))
        return torch.randperm(len(self.batches), generator=torch.Generator().manual_seed(self.epoch)).tolist()

    def __len__(self) -> int:
        return len(self.batches)

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.pos = epoch, 0

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        while self.pos < len(order):
            self.pos += 1
            yield self.batches[order[self.pos - 1]]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.pos = state["epoch"], state["pos"]


class TinyLM(nn.Module):
    """Embedding -> dropout -> GRU -> dropout -> tied decoder; returns NaN loss on training call `nan_at`."""

    def __init__(self, vocab: int = 11, dim: int = 12, dropout: float = 0.3, nan_at: int | None = None) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, dim, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(dim, vocab)
        self.decoder.weight = self.embed.weight  # tied: checkpoints must cope with shared tensors
        self.nan_at, self.calls = nan_at, 0

    def step(self, batch: dict[str, torch.Tensor], state: Any = None) -> StepOutput:
        x, y = batch["x"], batch["y"]  # (B, T)
        out, h = self.rnn(self.drop(self.embed(x)), state)  # (B, T, D)
        logits = self.decoder(self.drop(out))  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        if self.training:
            self.calls += 1
            if self.calls == self.nan_at:
                loss = loss * float("nan")
        return StepOutput(loss=loss, count=y.numel(), state=h, metrics={"bpc": float(loss.detach()) / math.log(2)})


class TinyClassifier(nn.Module):
    """Mean of token embeddings -> linear; no dropout, so gradients are deterministic functions of the batch."""

    def __init__(self, vocab: int = 11, dim: int = 8, classes: int = 3, scale: float = 1.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, classes)
        self.scale = scale  # multiplies the loss, to make gradients as large as a test needs

    def step(self, batch: dict[str, torch.Tensor], state: Any = None) -> StepOutput:
        logits = self.head(self.embed(batch["x"]).mean(1))  # (B, C)
        loss = F.cross_entropy(logits, batch["label"]) * self.scale
        acc = float((logits.argmax(-1) == batch["label"]).float().mean())
        return StepOutput(loss=loss, count=batch["label"].numel(), metrics={"accuracy": acc})


def classifier_batches(n: int = 6, batch_size: int = 4, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """`n` random batches whose label is the first token mod 3 (learnable)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randint(0, 11, (batch_size, 5), generator=g)
        out.append({"x": x, "label": x[:, 0] % 3})
    return out


def lm_evaluator(valid: TokenStream):
    """evaluate(model) over the whole validation stream, from its start."""

    def evaluate(model: nn.Module) -> dict[str, float]:
        valid.set_epoch(0)
        return evaluate_batches(model, valid)

    return evaluate


def lm_config(**overrides: Any) -> TrainConfig:
    """The config the resume tests share (cosine with an explicit length, so extending a run keeps the curve)."""
    base: dict[str, Any] = dict(
        optimizer={"name": "adamw", "lr": 1e-2}, schedule={"name": "cosine", "warmup_steps": 3, "total_steps": 24},
        clip_norm=0.5, max_steps=24, eval_every=4, log_every=1, checkpoint_every=3, keep_last=2, seed=7,
        device="cpu", num_threads=1, tensorboard=False,
    )
    base.update(overrides)
    return TrainConfig.model_validate(base)


def make_lm_trainer(run_dir: Any, callbacks: list[Callback] = (), **overrides: Any):  # type: ignore[assignment]
    """A Trainer over TinyLM + TokenStream, built the same way in every process."""
    from textseq.train.trainer import Trainer

    torch.manual_seed(0)
    model = TinyLM()
    return Trainer(model, lm_config(**overrides), TokenStream(seed=1), run_dir, evaluate=lm_evaluator(TokenStream(n_tokens=120, seed=2)),
                   callbacks=callbacks, extra_checkpoint_json={"model": "TinyLM"}, progress=False)


class Sleep(Callback):
    """Slow each step down, so a test can kill the process mid-run."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step_end(self, trainer: Any, step: int, logs: dict[str, Any]) -> None:
        time.sleep(self.seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    trainer = make_lm_trainer(args.run_dir, callbacks=[Sleep(args.sleep)] if args.sleep else [])
    if args.resume:
        print("resumed from", trainer.resume().name, flush=True)
    result = trainer.fit()
    print("done", result.step, result.stop_reason, flush=True)


if __name__ == "__main__":
    main()
