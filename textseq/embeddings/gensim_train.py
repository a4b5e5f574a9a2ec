"""Word2Vec and FastText through gensim, on its fast file-based path (`corpus_file=`, all cores).

textseq adds the config, the token file in front (see textseq.embeddings.train), progress and
safe saving; gensim does the training, untouched. The words/second reported is gensim's own:
the effective words its `train()` returns divided by the wall time of that call.

Nothing here saves or loads a gensim pickle: vectors leave as arrays, and a FastText model
(whose n-gram table gives unseen words a vector) leaves in Facebook's binary format through
`save_facebook_model`, loaded back with `load_facebook_vectors`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from textseq.config import StrictModel
from textseq.errors import InputError


class Word2VecConfig(StrictModel):
    """Word2Vec settings (the `word2vec:` section of an embed config); names follow gensim."""

    arch: Literal["skipgram", "cbow"] = Field("skipgram", description="skip-gram (sg=1) or CBOW (sg=0)")
    dim: int = Field(100, ge=1, description="vector_size")
    window: int = Field(5, ge=1)
    min_count: int = Field(5, ge=1)
    max_vocab: int | None = Field(None, ge=1, description="max_final_vocab: keep at most this many words")
    epochs: int = Field(5, ge=1)
    negative: int = Field(5, ge=0, description="negative samples (0: hierarchical softmax)")
    sample: float = Field(1e-3, ge=0, description="down-sampling threshold for frequent words")
    alpha: float = Field(0.025, gt=0, description="initial learning rate")
    min_alpha: float = Field(0.0001, ge=0)
    workers: int | None = Field(None, ge=1, description="threads (default: all cores)")
    seed: int = 1


class FastTextConfig(Word2VecConfig):
    """FastText settings (the `fasttext:` section): Word2Vec's plus character n-grams."""

    min_n: int = Field(3, ge=1, description="shortest character n-gram")
    max_n: int = Field(6, ge=0, description="longest character n-gram (0: no n-grams)")
    bucket: int = Field(2_000_000, ge=1, description="hash buckets for n-gram vectors")


@dataclass
class GensimResult:
    """A trained gensim model's vectors and gensim's own speed figures."""

    model: Any  # gensim Word2Vec or FastText (in memory only; never pickled)
    seconds: float
    effective_words: int  # words actually trained on, after down-sampling and vocabulary cuts
    raw_words: int

    @property
    def words(self) -> list[str]:
        return list(self.model.wv.index_to_key)

    @property
    def vectors(self) -> np.ndarray:
        return np.asarray(self.model.wv.vectors, dtype=np.float32)

    @property
    def words_per_second(self) -> float:
        return self.effective_words / self.seconds if self.seconds > 0 else float("nan")


def _common_kwargs(cfg: Word2VecConfig) -> dict[str, Any]:
    return dict(
        vector_size=cfg.dim, window=cfg.window, min_count=cfg.min_count, max_final_vocab=cfg.max_vocab,
        sg=1 if cfg.arch == "skipgram" else 0, negative=cfg.negative, hs=0 if cfg.negative > 0 else 1,
        sample=cfg.sample, alpha=cfg.alpha, min_alpha=cfg.min_alpha, seed=cfg.seed,
        workers=cfg.workers or os.cpu_count() or 1,
    )


def _epoch_callback(on_epoch: Callable[[int], None] | None) -> list[Any]:
    if on_epoch is None:
        return []
    from gensim.models.callbacks import CallbackAny2Vec

    class _OnEpoch(CallbackAny2Vec):  # gensim calls it from its own loop; never pickled here
        def __init__(self) -> None:
            self.epoch = 0

        def on_epoch_end(self, model: Any) -> None:
            self.epoch += 1
            on_epoch(self.epoch)

    return [_OnEpoch()]


def _train(model: Any, token_file: Path, epochs: int, on_epoch: Callable[[int], None] | None) -> GensimResult:
    if os.path.getsize(token_file) == 0:
        raise InputError(f"{token_file}: the corpus has no tokens (is the input empty, or does the pipeline drop everything?)")
    model.build_vocab(corpus_file=str(token_file))
    if len(model.wv) == 0:
        raise InputError(f"{token_file}: no word occurs min_count={model.min_count} times "
                         f"({model.corpus_total_words:,} tokens); lower min_count or use a larger corpus")
    start = time.perf_counter()
    effective, raw = model.train(corpus_file=str(token_file), total_examples=model.corpus_count,
                                 total_words=model.corpus_total_words, epochs=epochs,
                                 callbacks=_epoch_callback(on_epoch))
    return GensimResult(model, time.perf_counter() - start, int(effective), int(raw))


def train_word2vec(token_file: str | Path, cfg: Word2VecConfig,
                   on_epoch: Callable[[int], None] | None = None) -> GensimResult:
    """Train gensim Word2Vec on a token file (one sentence per line, space-separated)."""
    from gensim.models import Word2Vec

    model = Word2Vec(epochs=cfg.epochs, **_common_kwargs(cfg))
    return _train(model, Path(token_file), cfg.epochs, on_epoch)


def train_fasttext(token_file: str | Path, cfg: FastTextConfig,
                   on_epoch: Callable[[int], None] | None = None) -> GensimResult:
    """Train gensim FastText (subword n-grams) on a token file."""
    from gensim.models import FastText

    model = FastText(epochs=cfg.epochs, min_n=cfg.min_n, max_n=cfg.max_n, bucket=cfg.bucket, **_common_kwargs(cfg))
    return _train(model, Path(token_file), cfg.epochs, on_epoch)


def save_fasttext_bin(model: Any, path: str | Path) -> Path:
    """Write a gensim FastText model in Facebook's binary format (n-grams included; not a pickle)."""
    from gensim.models.fasttext import save_facebook_model

    path = Path(path)
    save_facebook_model(model, str(path))
    return path
