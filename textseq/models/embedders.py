"""Token embedders by name: every one maps ids (B, T) long -> vectors (B, T, E).

    random      a fresh nn.Embedding (uniform +-0.1, as the LM)
    pretrained  an nn.Embedding holding a given (V, E) matrix, e.g. from
                textseq.embeddings.align.embedding_matrix(vocab, vectors) (GloVe, FastText, Word2Vec)
    charngram   a module built by the caller (textseq.embeddings.charngram.CharNgramEmbedding needs the
                vocab's strings, which a classifier config does not hold), passed in as `module`

A factory takes (vocab_size, emb_dim, weights, module) and returns the module; the classifier only
relies on the (B, T) -> (B, T, E) contract, so any module honouring it can be registered here.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from textseq.errors import ConfigError
from textseq.registry import Registry

EmbedderFactory = Callable[[int, int, "torch.Tensor | None", "nn.Module | None"], nn.Module]
EMBEDDERS: Registry[EmbedderFactory] = Registry("embedder")


@EMBEDDERS.register("random")
def random_embedder(vocab_size: int, emb_dim: int, weights: torch.Tensor | None = None,
                    module: nn.Module | None = None) -> nn.Module:
    """A freshly initialised nn.Embedding; `weights`, when given, overrides the init."""
    emb = nn.Embedding(vocab_size, emb_dim)
    nn.init.uniform_(emb.weight, -0.1, 0.1)
    return emb if weights is None else _copy_matrix(emb, weights)


@EMBEDDERS.register("pretrained")
def pretrained_embedder(vocab_size: int, emb_dim: int, weights: torch.Tensor | None = None,
                        module: nn.Module | None = None) -> nn.Module:
    """nn.Embedding initialised from a (V, E) matrix (rows of unknown words as `embedding_matrix` made them)."""
    return _copy_matrix(nn.Embedding(vocab_size, emb_dim), weights)


@EMBEDDERS.register("charngram")
def given_embedder(vocab_size: int, emb_dim: int, weights: torch.Tensor | None = None,
                   module: nn.Module | None = None) -> nn.Module:
    """The caller's module (e.g. CharNgramEmbedding), checked on a probe batch to map (B, T) -> (B, T, emb_dim)."""
    if module is None:
        raise ConfigError("embedder=charngram needs the embedder module itself (build_classifier(..., embedder=...)), "
                          "e.g. textseq.embeddings.charngram.CharNgramEmbedding built from the vocab")
    probe = torch.zeros(1, 2, dtype=torch.long)
    with torch.no_grad():
        out = module(probe)
    if tuple(out.shape) != (1, 2, emb_dim):
        raise ConfigError(f"the {type(module).__name__} embedder maps ids (1, 2) to {tuple(out.shape)}, "
                          f"expected (1, 2, {emb_dim}); set emb_dim to its output size")
    return module


def _copy_matrix(emb: nn.Embedding, weights: torch.Tensor | None) -> nn.Embedding:
    """`emb` holding `weights` in place of its initial values; they must be given, in its shape."""
    if weights is None:
        raise ConfigError("embedder=pretrained needs embedding_weights, a (vocab_size, emb_dim) tensor "
                          "(see textseq.embeddings.align.embedding_matrix)")
    if tuple(weights.shape) != tuple(emb.weight.shape):
        raise ConfigError(f"embedding_weights has shape {tuple(weights.shape)}, "
                          f"but the config asks for (vocab_size, emb_dim) = {tuple(emb.weight.shape)}")
    with torch.no_grad():
        emb.weight.copy_(weights)
    return emb


def make_embedder(name: str, vocab_size: int, emb_dim: int, weights: torch.Tensor | None = None,
                  module: nn.Module | None = None, freeze: bool = False) -> nn.Module:
    """Build the embedder registered as `name`; `freeze` stops gradients to all of its parameters."""
    emb = EMBEDDERS.get(name)(vocab_size, emb_dim, weights, module)
    if freeze:
        for p in emb.parameters():
            p.requires_grad_(False)
    return emb
