"""Transfer from a language model to a classifier, the ULMFiT recipe (Howard & Ruder, 2018):

    1. init_from_lm                copy the embedding and recurrent encoder of a RecurrentLM trained with
                                   `textseq train-lm` on unlabeled text (same tokenizer and vocab)
    2. discriminative_param_groups lower layers learn slower: lr = base_lr / decay**depth, head at depth 0
    3. GradualUnfreezing           train the head alone first, then unfreeze one layer group more at a time,
                                   from the top recurrent layer down to the embedding

    groups, bottom to top:  embedding | rnn.l0 | rnn.l1 | ... | head (pooling + feed-forward)
    lr (decay d):           b/d^(L+1) | b/d^L  | ...           | b
    unfrozen at stage:      L+1       | L      | ...           | 0

A model supplies its groups with `layer_groups()` (bottom to top), as RecurrentClassifier and
BagOfEmbeddings do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from textseq.errors import ConfigError
from textseq.models.lm import RecurrentLM
from textseq.train.callbacks import Callback

if TYPE_CHECKING:
    from textseq.train.trainer import Trainer

LayerGroups = list[tuple[str, list[nn.Parameter]]]


@dataclass
class TransferReport:
    """What init_from_lm did: parameters copied, parameters left at their init, and why."""

    copied: list[str] = field(default_factory=list)  # classifier parameter names
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def init_from_lm(classifier: nn.Module, lm: RecurrentLM, backward: RecurrentLM | None = None) -> TransferReport:
    """Copy embedding and recurrent weights of `lm` into `classifier` (open a `textseq train-lm` run
    with textseq.runs.load_run(path).model).

    `backward`, an LM trained right to left (model.direction: backward) on the same text, starts the
    right-to-left direction of a bidirectional classifier (ULMFiT's forward + backward LMs in one
    encoder). Both directions read the one embedding of the classifier, so the backward LM must have
    been trained on the forward LM's embedding, frozen (`textseq train-lm ... --set
    embedding.from_lm=FORWARD_RUN`). A map between two separately trained embeddings is no
    substitute: for two 128-d IMDB LMs the least-squares linear fit explains 6% of the variance.

    Only sizes can be checked: the LMs must also share the classifier's tokenizer and vocab, or
    the copied rows belong to other tokens."""
    lc, cc = lm.config, classifier.config
    rnn = getattr(classifier, "rnn", None)
    problems = _size_problems(lc, cc, rnn is not None)
    if lc.direction != "forward":
        problems.append("the LM reads right to left (model.direction: backward); pass it as the backward LM")
    if not isinstance(classifier.embedding, nn.Embedding):
        problems.append(f"embedder {cc.embedder!r} has no word-embedding matrix to copy the LM's into")
    if backward is not None:
        bc = backward.config
        problems += [f"backward LM: {p}" for p in _size_problems(bc, cc, rnn is not None)]
        if bc.direction != "backward":
            problems.append("the backward LM reads left to right (model.direction: forward); train it with "
                            "--set model.direction=backward")
        if rnn is None or not cc.bidirectional:
            problems.append("a backward LM needs a bidirectional recurrent classifier (model.bidirectional: true)")
        elif not problems and not torch.equal(backward.embedding.weight, lm.embedding.weight):
            problems.append("the backward LM has an embedding of its own; train it on the forward LM's "
                            "(--set embedding.from_lm=FORWARD_RUN), so both directions read the same vectors")
    if problems:
        raise ConfigError("cannot initialise the classifier from the language model: " + "; ".join(problems))
    report = TransferReport()
    with torch.no_grad():
        classifier.embedding.weight.copy_(lm.embedding.weight)
        report.copied.append("embedding.weight")
        if rnn is None:
            report.notes.append(f"{type(classifier).__name__} has no recurrent encoder: only the embedding was copied")
            return report
        sources = {"": lm.rnn.state_dict()}  # the LMs are unidirectional: no *_reverse tensors
        if backward is not None:
            sources["_reverse"] = backward.rnn.state_dict()
        for name, param in rnn.named_parameters():
            suffix = "_reverse" if name.endswith("_reverse") else ""
            source = sources.get(suffix, {}).get(name.removesuffix("_reverse"))
            if source is None:
                report.kept.append(f"rnn.{name}")
                continue
            if param.shape == source.shape:
                param.copy_(source)
            else:  # weight_ih of a bidirectional layer above the first reads [forward ; backward] (G*H, 2H)
                hidden = source.size(1)
                own, other = (slice(hidden, None), slice(None, hidden)) if suffix else (slice(None, hidden), slice(hidden, None))
                param[:, own] = source
                param[:, other] = 0.0  # so each stack starts out computing exactly what its LM's does
            report.copied.append(f"rnn.{name}")
    if cc.bidirectional and backward is None:
        report.notes.append("the LM is unidirectional: its weights went into the forward direction; the backward "
                            "direction (rnn.*_reverse) keeps its fresh init and learns from the labels")
    if backward is not None:
        report.notes.append("the backward LM's weights went into the right-to-left direction")
    if cc.bidirectional and cc.num_layers > 1:
        report.notes.append("layers above the first read both directions: each LM's input weights fill the columns "
                            "for its own direction's features, those for the other direction start at 0")
    return report


def _size_problems(lc: Any, cc: Any, recurrent: bool) -> list[str]:
    keys = ("vocab_size", "emb_dim") + (("cell", "hidden_size", "num_layers", "block") if recurrent else ())
    problems = [f"{key}: LM {getattr(lc, key)} vs classifier {getattr(cc, key)}" for key in keys
                if getattr(lc, key) != getattr(cc, key)]
    if recurrent and cc.block == "residual" and cc.bidirectional:  # its blocks are twice the LM's width
        problems.append("a residual-block LM transfers to a unidirectional classifier only (model.bidirectional: false)")
    return problems


def layer_groups(model: nn.Module) -> LayerGroups:
    """The model's parameter groups, bottom (embedding) to top (head)."""
    groups = getattr(model, "layer_groups", None)
    if groups is None:
        raise ConfigError(f"{type(model).__name__} has no layer_groups() method, needed for ULMFiT fine-tuning")
    return groups()


def discriminative_param_groups(model: nn.Module, base_lr: float, decay: float = 2.6,
                                weight_decay: float = 0.0) -> list[dict[str, Any]]:
    """Optimizer param groups, head first, with lr = base_lr / decay**depth (depth 0 = head).

    Every group of the model is included whether or not it is frozen right now, so GradualUnfreezing
    can unfreeze it later (optimizers skip parameters whose grad is None). Within a layer, matrices
    get `weight_decay` and vectors (biases) none, as textseq.train.optim does; both carry the layer's
    `name` and lr."""
    if decay <= 0 or base_lr <= 0:
        raise ConfigError(f"base_lr and decay must be positive, got {base_lr} and {decay}")
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for depth, (name, params) in enumerate(reversed(layer_groups(model))):
        params = [p for p in params if id(p) not in seen]  # a shared (tied) parameter goes with its top use
        seen.update(id(p) for p in params)
        lr = base_lr / decay**depth
        for subset, wd in (([p for p in params if p.dim() >= 2], weight_decay), ([p for p in params if p.dim() < 2], 0.0)):
            if subset:
                out.append({"params": subset, "lr": lr, "weight_decay": wd, "name": name})
    return out


class GradualUnfreezing(Callback):
    """Trainer callback: only the head trains at first; every `every_steps` optimizer steps (or every
    `every_epochs` epochs) the next group down is unfrozen: top recurrent layer, ..., embedding.

    The stage is a function of trainer.step, so a resumed run freezes exactly as the original did.
    It freezes at on_fit_start: build the Trainer (and its optimizer) before, so the frozen groups
    are already in the optimizer when they thaw. With every_epochs the epoch length comes from
    len(train_data); data without a length falls back to trainer.epoch, which the trainer advances
    only after the epoch's last step event, so the thaw then lands one step into the new epoch."""

    def __init__(self, every_steps: int | None = None, every_epochs: int | None = None) -> None:
        if (every_steps is None) == (every_epochs is None) or (every_steps or every_epochs or 0) < 1:
            raise ConfigError("GradualUnfreezing needs exactly one of every_steps, every_epochs (a positive number)")
        self.every_steps, self.every_epochs = every_steps, every_epochs
        self.stage = -1  # groups unfrozen below the head; -1 before the first apply
        self.last_stage = 0  # the stage at which every group is trainable (set by apply)
        self.history: list[tuple[int, str]] = []  # (step, group) each time a group was unfrozen

    def stage_at(self, trainer: "Trainer") -> int:
        """How many groups below the head are trainable for the trainer's next step."""
        if self.every_steps is not None:
            return trainer.step // self.every_steps
        assert self.every_epochs is not None
        data = trainer.train_data
        if hasattr(data, "__len__"):
            per_epoch = math.ceil(len(data) / trainer.cfg.accumulate)  # type: ignore[arg-type]
            return trainer.step // max(1, per_epoch * self.every_epochs)
        return trainer.epoch // self.every_epochs

    def apply(self, model: nn.Module, stage: int, step: int = 0) -> list[str]:
        """Make the head and the `stage` groups below it trainable, freeze the rest; returns the trainable names."""
        groups = layer_groups(model)[::-1]  # top first
        self.last_stage = len(groups) - 1
        stage = min(max(stage, 0), self.last_stage)
        for depth, (name, params) in enumerate(groups):
            for p in params:
                p.requires_grad_(depth <= stage)
            if self.stage < depth <= stage:
                self.history.append((step, name))
        self.stage = stage
        return [name for name, _ in groups[:stage + 1]]

    def on_fit_start(self, trainer: "Trainer") -> None:
        self.stage = -1
        self.apply(trainer.model, self.stage_at(trainer), trainer.step)

    def on_step_end(self, trainer: "Trainer", step: int, logs: dict[str, Any]) -> None:
        stage = min(self.stage_at(trainer), self.last_stage)
        if stage != self.stage:
            self.apply(trainer.model, stage, step)
