"""A recurrent language model: embedding -> dropout -> stacked (or residual) recurrent layers -> dropout -> vocab logits.

    x (B, T) -> embed (B, T, E) -> recurrent (B, T, H) -> [proj H->E] -> decoder (B, T, V)

The decoder shares its weight with the embedding when `tie_weights` (Press & Wolf, 2017; Inan et al.,
2017): fewer parameters and usually lower perplexity. When emb_dim != hidden_size a bias-free linear
projection H -> E sits before the decoder so the tie is still possible.

`softmax: adaptive` replaces the decoder with torch's AdaptiveLogSoftmaxWithLoss (Grave et al., 2017):
the most frequent words (ids below the first cutoff; vocabularies are ordered by frequency) get a
full-size head, rarer ones sit in tail clusters behind smaller projections (each `adaptive_div`
times narrower). On a CPU the full softmax is most of a word LM's step (about 90% with 10,000
words and a 256-unit LSTM), so the adaptive one buys a larger vocabulary or more text per minute.
It cannot share the embedding's weight: tie_weights must then be false. `forward` returns
log-probabilities, which are valid logits for sampling.

Saved as `model.safetensors` + `config.json`; a tied decoder weight is stored once (as the
embedding) and re-tied on load.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator
from torch import nn

from textseq.config import StrictModel
from textseq.errors import ConfigError
from textseq.models.recurrent import CELLS, RecurrentOptions, init_recurrent_, init_state, make_recurrent
from textseq.train.protocol import StepOutput

IGNORE_INDEX = -100  # F.cross_entropy's default; padded targets carry it
TIED_KEY = "decoder.weight"  # left out of the file when tied: it is the embedding weight


class LMConfig(RecurrentOptions):
    """Hyper-parameters of RecurrentLM; stored as config.json next to the weights."""

    vocab_size: int = Field(gt=0)
    cell: str = "lstm"  # a name in textseq.models.recurrent.CELLS
    emb_dim: int = Field(default=256, gt=0)
    hidden_size: int = Field(default=512, gt=0)
    num_layers: int = Field(default=2, gt=0)
    dropout_emb: float = Field(default=0.1, ge=0.0, lt=1.0)  # on embeddings
    dropout_layers: float = Field(default=0.2, ge=0.0, lt=1.0)  # between recurrent layers
    dropout_out: float = Field(default=0.2, ge=0.0, lt=1.0)  # on the top layer's output
    tie_weights: bool = True
    forget_bias: float = 1.0  # LSTM only; see init_recurrent_
    softmax: Literal["full", "adaptive"] = "full"
    adaptive_cutoffs: list[int] = Field(default_factory=lambda: [2000, 10000])  # cluster bounds (token ids)
    adaptive_div: float = Field(default=4.0, ge=1.0)  # each tail cluster's projection is this much narrower
    # backward: trained on the reversed token stream, so it predicts each token from the ones after it
    # (ULMFiT's second LM; the right-to-left direction of a bidirectional classifier starts from it)
    direction: Literal["forward", "backward"] = "forward"

    @field_validator("cell")
    @classmethod
    def _known_cell(cls, value: str) -> str:
        CELLS.get(value)  # raises with the list of valid names
        return value

    @field_validator("adaptive_cutoffs")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if not value or any(c <= 0 for c in value) or value != sorted(set(value)):
            raise ValueError(f"adaptive_cutoffs must be strictly increasing positive token ids, got {value}")
        return value

    @model_validator(mode="after")
    def _adaptive_untied(self) -> LMConfig:
        if self.softmax == "adaptive" and self.tie_weights:
            raise ValueError("softmax: adaptive cannot share the embedding's weight; set tie_weights: false")
        return self

    def cutoffs(self) -> list[int]:
        """The adaptive cutoffs that fall inside the vocabulary (those at or above vocab_size - 1 are dropped)."""
        kept = [c for c in self.adaptive_cutoffs if c < self.vocab_size - 1]
        if not kept:
            raise ConfigError(f"model.adaptive_cutoffs {self.adaptive_cutoffs} leave no tail cluster in a "
                             f"{self.vocab_size}-word vocabulary: use softmax: full, or smaller cutoffs")
        narrowest = int(self.hidden_size // self.adaptive_div ** len(kept))  # torch's width of the last cluster
        if narrowest < 1:
            raise ConfigError(f"model.adaptive_div={self.adaptive_div} leaves the last of {len(kept)} tail clusters "
                              f"a 0-wide projection of hidden_size={self.hidden_size}: lower adaptive_div or use fewer cutoffs")
        return kept


class RecurrentLM(nn.Module):
    """Word/char-level recurrent LM; `step` makes it a SequenceTask for the trainer."""

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.emb_dim)
        self.drop_emb = nn.Dropout(c.dropout_emb)
        self.rnn = make_recurrent(c.cell, c.emb_dim, c.hidden_size, c.num_layers, c.dropout_layers, False,
                                  **c.recurrent_options())
        self.drop_out = nn.Dropout(c.dropout_out)
        needs_proj = c.tie_weights and c.emb_dim != c.hidden_size
        self.proj = nn.Linear(c.hidden_size, c.emb_dim, bias=False) if needs_proj else None
        self.decoder: nn.Linear | None = None
        self.adaptive: nn.AdaptiveLogSoftmaxWithLoss | None = None
        if c.softmax == "adaptive":
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(c.hidden_size, c.vocab_size, c.cutoffs(), div_value=c.adaptive_div)
        else:
            self.decoder = nn.Linear(c.emb_dim if c.tie_weights else c.hidden_size, c.vocab_size)
        self.reset_parameters()
        if c.tie_weights:
            self.decoder.weight = self.embedding.weight  # (V, E), one Parameter shared by both

    @property
    def weights_tied(self) -> bool:
        """Whether decoder and embedding share one weight tensor."""
        return self.decoder is not None and self.decoder.weight is self.embedding.weight

    def reset_parameters(self) -> None:
        """Small uniform embeddings (as word_language_model), zero decoder bias, tuned recurrent init.
        The adaptive softmax keeps torch's own initialisation."""
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        if self.decoder is not None:
            if not self.config.tie_weights:
                nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)
        init_recurrent_(self.rnn, self.config.forget_bias)

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> Any:
        """Zero recurrent state: (L, B, H), or an (h, c) pair of them for LSTM cells."""
        return init_state(self.rnn, batch_size, device)

    def hidden(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """x (B, T) token ids -> the decoder's input (B, T, E or H) and the new recurrent state."""
        emb = self.drop_emb(self.embedding(x))  # (B, T, E)
        out, state = self.rnn(emb, state)  # (B, T, H)
        out = self.drop_out(out)  # (B, T, H)
        if self.proj is not None:
            out = self.proj(out)  # (B, T, E)
        return out, state

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """x (B, T) token ids -> logits (B, T, V) (log-probabilities with the adaptive softmax) and the new state."""
        out, state = self.hidden(x, state)
        if self.adaptive is not None:
            B, T, H = out.shape
            return self.adaptive.log_prob(out.reshape(B * T, H)).view(B, T, -1), state  # (B, T, V)
        return self.decoder(out), state  # (B, T, V)

    def step(self, batch: Any, state: Any = None) -> StepOutput:
        """Mean next-token cross-entropy over the targets of `batch` ((x, y) or a NamedTuple x, y, reset)."""
        x, y = (batch.x, batch.y) if hasattr(batch, "x") else batch  # (B, T) each
        state = _apply_reset(state, getattr(batch, "reset", False))
        out, state = self.hidden(x, state)  # (B, T, E or H)
        # Targets equal to IGNORE_INDEX (-100) are padding: not predicted, not counted
        real = (y != IGNORE_INDEX).reshape(-1)  # (B*T,)
        count = int(real.sum())
        if count == 0:  # nothing to predict (all padding): a zero loss rather than 0/0 = nan
            return StepOutput(loss=out.sum() * 0.0, count=0, state=state)
        flat, targets = out.reshape(-1, out.size(-1)), y.reshape(-1)  # (B*T, E or H), (B*T,)
        if self.adaptive is not None:
            if count < real.numel():  # the adaptive softmax has no ignore_index
                flat, targets = flat[real], targets[real]
            return StepOutput(loss=self.adaptive(flat, targets).loss, count=count, state=state)
        loss = F.cross_entropy(self.decoder(flat), targets, ignore_index=IGNORE_INDEX)
        return StepOutput(loss=loss, count=count, state=state)


def _apply_reset(state: Any, reset: bool | torch.Tensor) -> Any:
    """Drop the carried state on a single true flag; zero only the flagged rows for a (B,) tensor."""
    if state is None:
        return None
    if isinstance(reset, torch.Tensor) and reset.numel() > 1:
        keep = (~reset.bool()).to(state[0].dtype if isinstance(state, tuple) else state.dtype)  # (B,)
        keep = keep.view(1, -1, 1)  # (1, B, 1): broadcasts over layers and hidden units
        return tuple(s * keep for s in state) if isinstance(state, tuple) else state * keep
    return None if bool(reset) else state
