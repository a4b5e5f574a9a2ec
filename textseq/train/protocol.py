"""What the training engine needs from a model and from its data, and nothing more.

The engine is task-agnostic (the minGPT idea): the model computes its own loss. Recurrent language
models carry a hidden state from one window to the next, so the step takes and returns a `state`;
classifiers simply ignore it. The engine detaches the returned state before the next step
(truncated backpropagation through time) and resets it when a batch says so.

    batch  --model.step(batch, state)-->  StepOutput(loss, count, state, metrics)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol, runtime_checkable

import torch

from textseq.errors import ConfigError


@dataclass
class StepOutput:
    """One forward pass. `loss` is the mean over `count` items (tokens or examples); the engine
    weights by `count` when it averages over an evaluation set."""

    loss: torch.Tensor  # scalar, differentiable
    count: int  # tokens (LM) or examples (classifier) the mean was taken over
    state: Any = None  # recurrent state to carry into the next window (LM); None otherwise
    metrics: dict[str, float] = field(default_factory=dict)  # extra per-step numbers to log
    outputs: Any = None  # e.g. logits/predictions, for evaluators that need them


@runtime_checkable
class SequenceTask(Protocol):
    """A trainable model: an nn.Module with a `step` method."""

    def step(self, batch: Any, state: Any = None) -> StepOutput: ...


@runtime_checkable
class Batches(Protocol):
    """Training data: iterates batches for one epoch and can save/restore its position, so a resumed
    run sees exactly the batches an uninterrupted run would have seen."""

    def __iter__(self) -> Iterator[Any]: ...

    def set_epoch(self, epoch: int) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def check_batch_state(state: dict[str, Any], mine: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Refuse a saved batch position whose settings (`keys`) differ from these batches' own `mine`:
    resuming it would silently walk a different sequence of batches."""
    for key in keys:
        if key in state and state[key] != mine.get(key):
            raise ConfigError(f"batch state was saved with {key}={state[key]!r}, but these batches have {key}={mine.get(key)!r}")


def batch_to(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (possibly nested) batch to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: batch_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields"):
        return type(batch)(batch_to(v, device) for v in batch)
    if hasattr(batch, "_fields"):  # NamedTuple
        return type(batch)(*(batch_to(v, device) for v in batch))
    return batch


def detach_state(state: Any) -> Any:
    """Cut the graph behind a recurrent state (tensor, tuple of tensors, or None)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


def batch_reset(batch: Any) -> bool:
    """True when a batch starts every stream afresh (its single `reset` flag is set)."""
    # A batch says "a new stream starts here" with a `reset` field/key; a per-row tensor of flags is
    # the model's business (it can zero just those rows), so only a single flag is acted on here.
    flag = batch.get("reset", False) if isinstance(batch, dict) else getattr(batch, "reset", False)
    if isinstance(flag, torch.Tensor):
        return flag.numel() == 1 and bool(flag)
    return bool(flag)
