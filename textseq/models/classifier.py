"""Many-to-one classifiers (AllenNLP's BasicClassifier shape) and a bag-of-embeddings baseline.

    ids (B, T), lengths (B,) -> embed (B, T, E) -> recurrent (B, T, D*H) -> pool (B, D*H) -> feed-forward -> logits (B, C)
    ids (B, T), lengths (B,) -> embed (B, T, E) -> masked mean (B, E)                     -> feed-forward -> logits (B, C)

Padding never reaches a result: a review alone and the same review in a padded batch get the same
probabilities. The recurrent encoder is length-aware whatever its implementation:

    torch's nn.LSTM/GRU/RNN   one call of torch's fused kernel per layer and direction on the
                              padded batch: padding sits after each row's tokens, so the forward
                              direction reads every real token before any padding, and the backward
                              direction reads each row reversed within its own length; final states
                              are gathered at length-1. (pack_padded_sequence does the same job, but
                              with uneven lengths its CPU kernel is ~20x slower to train.)
    textseq's scratch cells   masked scan (they take no PackedSequence): at steps t >= length the
                              state is kept, so the forward state stops at length-1 and the backward
                              direction, running T-1 .. 0, stays at its zero initial state through the
                              padding and starts on the last real token
    mingru / minlstm          their own scan with a = 1, b = 0 at padding (the state passes through),
                              backward rows flipped within their length as for torch's kernels
    residual blocks           each block's layer through the runner above that fits it; "last"
                              pooling reads the stack's output at the row's ends (its top MLP and
                              norm come after the recurrent state)
    anything else             one call per distinct length, on unpadded slices

and the poolings mask positions >= length. Saved as `model.safetensors` + `config.json`, never pickle.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any, Callable, NamedTuple

import torch
import torch.nn.functional as F
from pydantic import Field, ValidationInfo, field_validator, model_validator
from torch import nn

from textseq.config import StrictModel
from textseq.errors import InputError
from textseq.models.cells import ScratchRecurrent
from textseq.models.embedders import EMBEDDERS, make_embedder
from textseq.models.pooling import POOLINGS, make_pooling, masked_mean
from textseq.models.recurrent import CELLS, RecurrentOptions, init_recurrent_, make_recurrent
from textseq.models.residual import ResidualStack
from textseq.models.scan import MinRecurrent
from textseq.registry import Registry
from textseq.train.protocol import StepOutput


class ClassifierConfig(RecurrentOptions):
    """Hyper-parameters of a classifier; stored as config.json next to the weights."""

    kind: str = "recurrent"  # a name in CLASSIFIERS: recurrent | bag (bag-of-embeddings baseline)
    vocab_size: int = Field(gt=0)  # filled in by the caller from the vocab
    num_classes: int = Field(default=2, ge=2)
    emb_dim: int = Field(default=100, gt=0)
    embedder: str = "random"  # a name in EMBEDDERS: random | pretrained | charngram
    freeze_embeddings: bool = False  # no gradient to the embedder (typical for pretrained vectors)
    # The recurrent encoder (ignored by kind=bag).
    cell: str = "lstm"  # a name in textseq.models.recurrent.CELLS
    hidden_size: int = Field(default=128, gt=0)
    num_layers: int = Field(default=1, gt=0)
    bidirectional: bool = True
    forget_bias: float = 1.0  # LSTM only; see init_recurrent_
    dropout_emb: float = Field(default=0.1, ge=0.0, lt=1.0)  # on embeddings
    dropout_rnn: float = Field(default=0.2, ge=0.0, lt=1.0)  # between recurrent layers and on the top layer's output
    pooling: str = "last"  # a name in POOLINGS: last | mean | max | attention | concat (kind=bag always takes the mean)
    attention_dim: int = Field(default=64, gt=0)
    # The head: hidden sizes of the feed-forward layers before the final linear layer.
    ff_hidden: list[int] = Field(default_factory=list)
    dropout_ff: float = Field(default=0.2, ge=0.0, lt=1.0)  # before every linear layer of the head
    class_weights: list[float] | None = None  # per-class loss weights for imbalanced data
    pad_id: int = Field(default=0, ge=0)  # the id batches pad with; the models go by lengths, so pad values never matter

    @field_validator("cell", "pooling", "embedder", "kind")
    @classmethod
    def _known_name(cls, value: str, info: ValidationInfo) -> str:
        """Each of these names a registry entry; an unknown one is an error listing the valid names."""
        registry = {"cell": CELLS, "pooling": POOLINGS, "embedder": EMBEDDERS, "kind": CLASSIFIERS}[info.field_name]
        registry.get(value)
        return value

    @field_validator("ff_hidden")
    @classmethod
    def _positive_sizes(cls, value: list[int]) -> list[int]:
        if any(v <= 0 for v in value):
            raise ValueError(f"feed-forward sizes must be positive, got {value}")
        return value

    @model_validator(mode="after")
    def _weights_per_class(self) -> "ClassifierConfig":
        w = self.class_weights
        if w is not None and (len(w) != self.num_classes or any(x <= 0 for x in w)):
            raise ValueError(f"class_weights needs {self.num_classes} positive numbers (one per class), got {w}")
        return self


class ClassificationBatch(NamedTuple):
    """A padded batch: ids (B, T) int64, lengths (B,) int64 (each >= 1), labels (B,) int64."""

    ids: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor


class ClassifierOutput(NamedTuple):
    logits: torch.Tensor  # (B, C)
    probs: torch.Tensor  # (B, C)
    attention: torch.Tensor | None = None  # (B, T), with pooling=attention


# -- length-aware recurrent encoding ----------------------------------------------------------------------
def run_recurrent(module: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, T, I), lengths (B,) -> outputs (B, T, D*H) (zero at padding), h_n (L*D, B, H), padding unseen."""
    runner = next(fn for kind, fn in _RUNNERS if isinstance(module, kind))
    return runner(module, x, lengths)


def _run_aligned(module: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # x0 x1 x2 [pad pad]: forward reads x0 x1 x2 first, so its outputs up to length-1 never saw padding;
    # backward reads x2 x1 x0 [pad pad] (each row flipped within its length), then is flipped back.
    if getattr(module, "proj_size", 0):
        raise InputError("LSTMs with proj_size are not supported by the classifiers")
    steps = x.size(1)
    positions = torch.arange(steps, device=x.device)  # (T,)
    valid = positions < lengths.unsqueeze(1)  # (B, T)
    flip = torch.where(valid, lengths.unsqueeze(1) - 1 - positions, positions)  # (B, T); its own inverse
    last = (lengths - 1).view(-1, 1, 1)  # (B, 1, 1): where each row's final state is
    layer_in, finals = x, []  # (B, T, I_k)
    for layer in range(module.num_layers):
        if layer > 0 and module.dropout > 0.0 and module.training:
            layer_in = F.dropout(layer_in, module.dropout, training=True)  # between layers, as the module does
        outs = []
        for suffix in ("", "_reverse")[:2 if module.bidirectional else 1]:
            seq = _reorder(layer_in, flip) if suffix else layer_in
            out = _one_direction(module, layer, suffix, seq)  # (B, T, H)
            finals.append(out.gather(1, last.expand(-1, 1, out.size(2))).squeeze(1))  # (B, H)
            outs.append(_reorder(out, flip) if suffix else out)
        layer_in = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]  # (B, T, D*H)
    return layer_in.masked_fill(~valid.unsqueeze(-1), 0.0), torch.stack(finals)  # (B, T, D*H), (L*D, B, H)


def _reorder(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, T, F) with row b's position t taken from position index[b, t]."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(2)))


def _one_direction(module: nn.RNNBase, layer: int, suffix: str, x: torch.Tensor) -> torch.Tensor:
    """Outputs (B, T, H) of one layer and direction of `module`, through a one-layer module of the same
    kind that borrows that layer's weights (torch.func.functional_call), so the fused kernel runs."""
    from torch.func import functional_call

    template = _single_layer(type(module), x.size(-1), module.hidden_size, module.bias,
                             getattr(module, "nonlinearity", None))
    template.train(module.training)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if module.bias else ("weight_ih", "weight_hh")
    weights = {f"{n}_l0": getattr(module, f"{n}_l{layer}{suffix}") for n in names}
    return functional_call(template, weights, (x,))[0]


@lru_cache(maxsize=None)
def _single_layer(cls: type[nn.RNNBase], input_size: int, hidden_size: int, bias: bool,
                  nonlinearity: str | None) -> nn.RNNBase:
    # only its shape and kind matter: every call replaces its weights
    extra = {"nonlinearity": nonlinearity} if nonlinearity else {}
    return cls(input_size, hidden_size, 1, bias=bias, batch_first=True, **extra)


def _run_masked(module: ScratchRecurrent, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # The scratch layer's own time loop, with one change: rows past their length keep their state.
    #   forward  t = 0 .. T-1:  x0 x1 x2 [pad pad]  -> state frozen after x2 = state at length-1
    #   backward t = T-1 .. 0:  [pad pad] x2 x1 x0  -> state stays at its zero init until x2
    batch, steps = x.shape[:2]
    valid = (torch.arange(steps, device=x.device) < lengths.unsqueeze(1)).unbind(1)  # T tensors of (B,)
    layer_in, finals = x, []  # (B, T, I_k)
    for layer in range(module.num_layers):
        if layer > 0 and module.dropout > 0.0 and module.training:
            layer_in = F.dropout(layer_in, module.dropout, training=True)  # between layers, as the module does
        outs = []
        for sfx in ("", "_reverse")[:module.num_directions]:
            weights = module._step_weights(layer, sfx)
            xp = module._project(layer_in, layer, sfx).unbind(1)  # T tensors of (B, G*H)
            state = tuple(x.new_zeros(batch, module.hidden_size) for _ in range(module.num_states))
            out: list[torch.Tensor] = [x.new_zeros(())] * steps
            for t in (range(steps - 1, -1, -1) if sfx else range(steps)):
                new = module._cell(xp[t], state, *weights)  # each (B, H)
                keep = valid[t].unsqueeze(1)  # (B, 1)
                state = tuple(torch.where(keep, n, s) for n, s in zip(new, state))
                out[t] = state[0]
            outs.append(torch.stack(out, dim=1))  # (B, T, H)
            finals.append(state[0])
        layer_in = torch.cat(outs, dim=-1)  # (B, T, D*H)
    mask = torch.stack(valid, dim=1).unsqueeze(-1)  # (B, T, 1)
    return torch.where(mask, layer_in, layer_in.new_zeros(())), torch.stack(finals)  # (B, T, D*H), (L*D, B, H)


def _run_min(module: MinRecurrent, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # the scan masks padding itself (a = 1, b = 0 there) and flips the backward rows within their length
    out, h_n = module(x, None, lengths=lengths)  # (B, T, D*H), (L*D, B, H)
    valid = torch.arange(x.size(1), device=x.device) < lengths.unsqueeze(1)  # (B, T)
    return out.masked_fill(~valid.unsqueeze(-1), 0.0), h_n


def _run_residual(module: ResidualStack, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # each block's recurrent layer goes through its own length-aware runner; norms and MLPs are per position
    out, h_n = module(x, None, run=partial(_run_layer, lengths=lengths))  # (B, T, D*H), (L*D, B, H)
    valid = torch.arange(x.size(1), device=x.device) < lengths.unsqueeze(1)  # (B, T)
    return out.masked_fill(~valid.unsqueeze(-1), 0.0), h_n


def _run_layer(rnn: nn.Module, x: torch.Tensor, state: Any, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return run_recurrent(rnn, x, lengths)  # a classifier starts every layer from the zero state


def _run_by_length(module: nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # Any module with torch's call convention: one call per distinct length, on slices with no padding.
    dirs = 2 if module.bidirectional else 1
    out = x.new_zeros(x.size(0), x.size(1), dirs * module.hidden_size)  # (B, T, D*H)
    h_n = x.new_zeros(module.num_layers * dirs, x.size(0), module.hidden_size)  # (L*D, B, H)
    for n in lengths.unique().tolist():
        rows = (lengths == n).nonzero().squeeze(1)
        o, state = module(x[rows, :n])
        out[rows, :n] = o
        h_n[:, rows] = state[0] if isinstance(state, tuple) else state
    return out, h_n


RUNNER = Callable[[Any, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
_RUNNERS: tuple[tuple[type, RUNNER], ...] = (
    (nn.RNNBase, _run_aligned), (ScratchRecurrent, _run_masked), (MinRecurrent, _run_min),
    (ResidualStack, _run_residual), (nn.Module, _run_by_length))


def _ends(out: torch.Tensor, lengths: torch.Tensor, dirs: int) -> torch.Tensor:
    """out (B, T, D*H) -> (B, D*H): the forward half at each row's last token, the backward half at its first."""
    at_end = out.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(2))).squeeze(1)  # (B, D*H)
    if dirs == 1:
        return at_end
    half = out.size(2) // 2
    return torch.cat([at_end[:, :half], out[:, 0, half:]], dim=-1)  # (B, D*H)


def _real_tokens(ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, T) bool mask of positions < length, after checking the lengths fit the ids."""
    if ids.dim() != 2 or lengths.shape != ids.shape[:1]:
        raise InputError(f"expected ids (B, T) and lengths (B,), got {tuple(ids.shape)} and {tuple(lengths.shape)}")
    if len(lengths) and (int(lengths.min()) < 1 or int(lengths.max()) > ids.size(1)):
        raise InputError(f"lengths must lie in 1..T={ids.size(1)} (encode an empty text as one <unk>), "
                         f"got {lengths.min().item()}..{lengths.max().item()}")
    return torch.arange(ids.size(1), device=ids.device) < lengths.unsqueeze(1)  # (B, T)


def feed_forward(in_dim: int, hidden: list[int], num_classes: int, dropout: float) -> nn.Sequential:
    """[dropout -> linear -> ReLU] per hidden size, then dropout -> linear to the class logits."""
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Dropout(dropout), nn.Linear(in_dim, size), nn.ReLU()]
        in_dim = size
    return nn.Sequential(*layers, nn.Dropout(dropout), nn.Linear(in_dim, num_classes))


# -- the models -----------------------------------------------------------------------------------------
class RecurrentClassifier(nn.Module):
    """embed -> length-aware LSTM/GRU/RNN -> pooling -> feed-forward -> logits; a SequenceTask via `step`."""

    def __init__(self, config: ClassifierConfig, embedding_weights: torch.Tensor | None = None,
                 embedder: nn.Module | None = None) -> None:
        super().__init__()
        self.config = c = config
        dirs = 2 if c.bidirectional else 1
        # names shared with RecurrentLM (embedding, rnn), so transfer and diagnostics find the parts
        self.embedding = make_embedder(c.embedder, c.vocab_size, c.emb_dim, embedding_weights, embedder, c.freeze_embeddings)
        self.drop_emb = nn.Dropout(c.dropout_emb)
        self.rnn = init_recurrent_(make_recurrent(c.cell, c.emb_dim, c.hidden_size, c.num_layers, c.dropout_rnn,
                                                  c.bidirectional, **c.recurrent_options()), c.forget_bias)
        self.drop_rnn = nn.Dropout(c.dropout_rnn)
        self.pooling = make_pooling(c.pooling, dirs * c.hidden_size, c.attention_dim)
        self.head = feed_forward(self.pooling.output_size, c.ff_hidden, c.num_classes, c.dropout_ff)
        _register_class_weights(self, c)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> ClassifierOutput:
        """ids (B, T) long, lengths (B,) long -> logits, probabilities (B, C) and attention weights (B, T) or None."""
        mask = _real_tokens(ids, lengths)  # (B, T)
        emb = self.drop_emb(self.embedding(ids))  # (B, T, E)
        out, h_n = run_recurrent(self.rnn, emb, lengths)  # (B, T, D*H), (L*D, B, H)
        dirs = 2 if self.config.bidirectional else 1
        last = h_n[-dirs:].transpose(0, 1).reshape(ids.size(0), -1)  # (B, D*H): top layer, forward then backward
        if isinstance(self.rnn, ResidualStack):  # the stack's output passed the top MLP and norm; its state did not
            last = _ends(out, lengths, dirs)  # (B, D*H)
        pooled, attention = self.pooling(self.drop_rnn(out), mask, self.drop_rnn(last))  # (B, D*H), (B, T)
        logits = self.head(pooled)  # (B, C)
        return ClassifierOutput(logits, logits.softmax(dim=-1), attention)

    def layer_groups(self) -> list[tuple[str, list[nn.Parameter]]]:
        """Parameter groups from the bottom (embedding) to the top (pooling + head), for ULMFiT fine-tuning;
        a config-frozen embedding is left out, since it is never to be trained."""
        groups = [] if self.config.freeze_embeddings else [("embedding", list(self.embedding.parameters()))]
        for layer in range(self.config.num_layers):
            if isinstance(self.rnn, ResidualStack):  # a block is a layer; the input projection goes with the first
                extra = [*(self.rnn.in_proj.parameters() if layer == 0 and self.rnn.in_proj is not None else ())]
                top = [*self.rnn.norm_out.parameters()] if layer == self.config.num_layers - 1 else []
                groups.append((f"rnn.l{layer}", extra + [*self.rnn.blocks[layer].parameters()] + top))
                continue
            groups.append((f"rnn.l{layer}", [p for n, p in self.rnn.named_parameters()
                                             if n.endswith(f"_l{layer}") or n.endswith(f"_l{layer}_reverse")]))
        return groups + [("head", [*self.pooling.parameters(), *self.head.parameters()])]

    def step(self, batch: Any, state: Any = None) -> StepOutput:
        """Cross-entropy (class-weighted when configured) and accuracy on a ClassificationBatch."""
        return classification_step(self, batch)


class BagOfEmbeddings(nn.Module):
    """Baseline: embed -> masked mean over real tokens -> feed-forward -> logits (word order ignored)."""

    def __init__(self, config: ClassifierConfig, embedding_weights: torch.Tensor | None = None,
                 embedder: nn.Module | None = None) -> None:
        super().__init__()
        self.config = c = config
        self.embedding = make_embedder(c.embedder, c.vocab_size, c.emb_dim, embedding_weights, embedder, c.freeze_embeddings)
        self.drop_emb = nn.Dropout(c.dropout_emb)
        self.head = feed_forward(c.emb_dim, c.ff_hidden, c.num_classes, c.dropout_ff)
        _register_class_weights(self, c)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> ClassifierOutput:
        """ids (B, T) long, lengths (B,) long -> logits and probabilities (B, C); attention is None."""
        mask = _real_tokens(ids, lengths)  # (B, T)
        pooled = masked_mean(self.drop_emb(self.embedding(ids)), mask)  # (B, E)
        logits = self.head(pooled)  # (B, C)
        return ClassifierOutput(logits, logits.softmax(dim=-1), None)

    def layer_groups(self) -> list[tuple[str, list[nn.Parameter]]]:
        """Bottom to top: embedding (unless config-frozen), head."""
        groups = [] if self.config.freeze_embeddings else [("embedding", list(self.embedding.parameters()))]
        return groups + [("head", list(self.head.parameters()))]

    def step(self, batch: Any, state: Any = None) -> StepOutput:
        """Cross-entropy (class-weighted when configured) and accuracy on a ClassificationBatch."""
        return classification_step(self, batch)


def _register_class_weights(model: nn.Module, config: ClassifierConfig) -> None:
    # a buffer so it follows .to(device); not persistent, since config.json already holds it
    weights = None if config.class_weights is None else torch.tensor(config.class_weights, dtype=torch.float32)
    model.register_buffer("class_weights", weights, persistent=False)


def classification_step(model: nn.Module, batch: Any) -> StepOutput:
    """The shared `step`: loss is the (class-weighted) mean cross-entropy over the batch's B examples.

    With class weights, F.cross_entropy divides by the sum of the targets' weights, not by B, so
    the loss stays on the scale of an unweighted mean; count is B either way."""
    ids, lengths, labels = batch  # (B, T), (B,), (B,)
    out = model(ids, lengths)
    loss = F.cross_entropy(out.logits, labels, weight=model.class_weights)
    accuracy = float((out.logits.argmax(dim=-1) == labels).float().mean()) if len(labels) else 0.0
    return StepOutput(loss=loss, count=len(labels), metrics={"accuracy": accuracy},
                      outputs=(out.probs.detach(), labels))


CLASSIFIERS: Registry[Callable[..., nn.Module]] = Registry("classifier kind")
CLASSIFIERS.register("recurrent")(RecurrentClassifier)
CLASSIFIERS.register("bag")(BagOfEmbeddings)


def build_classifier(config: ClassifierConfig, embedding_weights: torch.Tensor | None = None,
                     embedder: nn.Module | None = None) -> nn.Module:
    """The classifier `config.kind` names; `embedding_weights` (V, E) for embedder=pretrained,
    `embedder` (a module ids -> vectors) for embedder=charngram."""
    return CLASSIFIERS.get(config.kind)(config, embedding_weights, embedder)


# -- save / load (the LM's helpers are specific to its weight tying, so these are separate) ---------------
