"""The training config: every knob of the generic trainer, validated strictly (unknown keys are errors).

    train:
      optimizer: {name: adamw, lr: 3.0e-3, weight_decay: 0.01}
      schedule: {name: cosine, warmup_steps: 100, min_lr: 0.1}
      clip_norm: 1.0
      max_steps: 5000
      eval_every: 250
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from textseq.config import StrictModel
from textseq.train.divergence import DivergenceConfig


class OptimizerConfig(StrictModel):
    """Which optimizer, and its hyperparameters (fields an optimizer does not use are ignored by it)."""

    name: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    # Decay applies to matrices only (weights of Linear/RNN/Embedding); biases and norm gains are
    # left alone, because shrinking them towards zero regularises nothing useful (nanoGPT does the same).
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    nesterov: bool = False
    # AdamW as one fused kernel: on a CPU about 3.5x faster than the default (foreach), which matters
    # when a large embedding makes the update a good part of a short step; its updates match the
    # default's to float rounding, not bit for bit, so it is off unless asked for.
    fused: bool = False

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> "OptimizerConfig":
        if self.name == "sgd" and self.nesterov and self.momentum <= 0:
            raise ValueError("nesterov=true needs momentum > 0")
        return self


class ScheduleConfig(StrictModel):
    """Learning-rate schedule. `warmup_steps` (a linear ramp from lr/warmup to lr) applies to every kind."""

    name: Literal["none", "cosine", "plateau"] = "none"
    warmup_steps: int = Field(0, ge=0)
    # The floor, as a fraction of the base lr: cosine decays to it, plateau never cuts below it.
    min_lr: float = Field(0.0, ge=0, le=1)
    # Cosine length in optimizer steps; None = max_steps. Set it explicitly when a run is extended
    # by resuming with a larger max_steps, or the curve would change shape half-way.
    total_steps: int | None = Field(None, ge=1)
    factor: float = Field(0.5, gt=0, lt=1)  # plateau: multiply the lr by this ...
    patience: int = Field(2, ge=0)  # ... after this many evaluations without improvement


class EarlyStoppingConfig(StrictModel):
    """Stop when the evaluation metric has not improved for `patience` evaluations."""

    metric: str = "loss"  # a key of the dict returned by the `evaluate` callable
    mode: Literal["min", "max"] = "min"
    patience: int = Field(5, ge=1)
    min_delta: float = Field(0.0, ge=0)  # improvements smaller than this do not count


class TrainConfig(StrictModel):
    """Everything the Trainer needs besides the model, the data and the run directory."""

    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    # Global-norm clipping (None disables). 1.0 by default: with AdamW the update size is set by the
    # lr, not by the gradient's magnitude, so clipping only has to catch the rare exploding-gradient
    # spikes of recurrent nets; typical global norms of small LMs are 0.1-1 and pass untouched.
    # With plain SGD at a large lr (e.g. 20, as in pytorch/examples word_language_model and
    # AWD-LSTM) the gradient *is* the step, and 0.25 is the usual choice.
    clip_norm: float | None = Field(1.0, gt=0)
    accumulate: int = Field(1, ge=1)  # micro-batches per optimizer step
    max_steps: int | None = Field(None, ge=1)  # optimizer steps in total (a resumed run counts on)
    max_epochs: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0)  # training-time budget of the run (a resume counts the time spent)
    eval_every: int = Field(500, ge=1)  # optimizer steps between evaluations
    log_every: int = Field(50, ge=1)  # optimizer steps between train-metric records
    checkpoint_every: int | None = Field(None, ge=1)  # None = eval_every
    # The evaluation metric that picks `best/` and drives the plateau schedule.
    monitor: str = "loss"
    monitor_mode: Literal["min", "max"] = "min"
    early_stopping: EarlyStoppingConfig | None = None
    divergence: DivergenceConfig | None = DivergenceConfig()  # stop a finite but exploding run (None: off)
    keep_last: int = Field(3, ge=1)  # step-* checkpoints kept besides best/
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    # Autocast precision. bf16 also works on CPU but is slower there than fp32 for small RNNs,
    # hence opt-in; fp16 needs CUDA (it uses a GradScaler against underflow).
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    num_threads: int | None = Field(None, ge=1)  # torch.set_num_threads; None = torch's choice
    tensorboard: bool = True  # also write TensorBoard events when tensorboard is installed

    @model_validator(mode="after")
    def _has_a_limit(self) -> "TrainConfig":
        if self.max_steps is None and self.max_epochs is None and self.max_minutes is None:
            raise ValueError("set at least one of max_steps, max_epochs, max_minutes, or training never ends")
        return self

    @property
    def checkpoint_interval(self) -> int:
        """Optimizer steps between checkpoints."""
        return self.checkpoint_every or self.eval_every


def follow_seed(train: TrainConfig, seed: int) -> None:
    """Give `train` the job's top-level `seed`; a train.seed set to another value is an error."""
    if "seed" in train.model_fields_set and train.seed != seed:
        raise ValueError(f"train.seed ({train.seed}) differs from seed ({seed}); set only the top-level seed")
    if train.seed != seed:
        train.seed = seed
