"""`textseq embed train`: corpus -> preprocessing pipeline -> token file -> GloVe | Word2Vec | FastText
-> DIR/vectors.npy + vocab.txt + meta.json (+ fasttext.bin for FastText).

The token file (one document per line, tokens joined by single spaces) is written once per
(pipeline fingerprint, sources, limits) and cached; gensim's `corpus_file` path and the GloVe
counter both read it. Methods are looked up by name in METHODS, each a function

    (token_file, config, work_dir, progress) -> RawVectors (words, float32 vectors, numbers for meta.json)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from textseq.config import StrictModel, dump_config, load_config
from textseq.embeddings.formats import FastTextSubwords, RawVectors
from textseq.embeddings.gensim_train import FastTextConfig, Word2VecConfig
from textseq.embeddings.glove import GloveConfig
from textseq.embeddings.vectors import Vectors
from textseq.errors import InputError
from textseq.fileio import atomic_path, atomic_write_text
from textseq.log import progress_enabled
from textseq.registry import Registry

DEFAULT_PIPELINE = "embeddings"  # the preprocess preset (configs/preprocess/embeddings.yaml)
TOKEN_FILE_FORMAT = 1


Method = Callable[[Path, "EmbedConfig", Path, bool], RawVectors]
METHODS: Registry[Method] = Registry("embedding method")


class EmbedConfig(StrictModel):
    """An embedding training job (the `embed` presets: glove, word2vec, fasttext)."""

    preset_kind = "embed"

    method: str = Field(description="glove | word2vec | fasttext")
    corpus: list[str] = Field(min_length=1, description="sources: imdb:train, shakespeare:train, files, hf:NAME:SPLIT")
    pipeline: str | dict[str, Any] | None = Field(
        None, description="a pipeline preset name, a YAML path or an inline spec (default: the embeddings preset)")
    text_column: str = Field("text", description="column holding the text in CSV/JSONL/datasets input")
    max_documents: int | None = Field(None, ge=1, description="read at most this many documents per source")
    max_tokens: int | None = Field(None, ge=1, description="stop the token file after this many tokens")
    n_proc: int = Field(2, ge=1, description="preprocessing worker processes")
    token_cache: str | None = Field(None, description="where token files are cached (default: <cache>/embeddings)")
    glove: GloveConfig = GloveConfig()
    word2vec: Word2VecConfig = Word2VecConfig()
    fasttext: FastTextConfig = FastTextConfig()

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        METHODS.get(value)  # ConfigError (a ValueError) listing the valid names
        return value

    @field_validator("corpus", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def method_config(self) -> StrictModel:
        """The section of the chosen method."""
        return getattr(self, self.method)


def load_embed_config(path: str | Path, overrides: Iterable[str] = ()) -> EmbedConfig:
    """Load and validate an embed config (a YAML file or a preset name such as `glove`) with dotted
    `--set` overrides."""
    return load_config(EmbedConfig, path, overrides)


@dataclass
class EmbedResult:
    """Where the vectors went and what meta.json says."""

    out_dir: Path
    meta: dict[str, Any]


# ----------------------------------------------------------------------------- the job
def train_embeddings(config: EmbedConfig, out_dir: str | Path, *, progress: bool | None = None,
                     engine: str = "local", ray_address: str | None = None) -> EmbedResult:
    """Prepare the token file (the pipeline running on `engine`, see textseq.text.engines), train with
    `config.method`, write DIR/vectors.npy, vocab.txt, meta.json."""
    from textseq import __version__

    progress = progress_enabled(progress)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pipeline = _pipeline(config)
    started = time.perf_counter()
    token_file, corpus_stats = prepare_token_file(config, pipeline, progress=progress, engine=engine,
                                                  ray_address=ray_address)
    prep_seconds = time.perf_counter() - started
    trained = METHODS.get(config.method)(token_file, config, out, progress)
    if not np.isfinite(trained.matrix).all():
        raise InputError(f"{config.method} produced non-finite vectors; lower the learning rate")
    dump_config(config, out / "config.yaml")
    meta = {
        "textseq": __version__, "method": config.method, "dim": int(trained.matrix.shape[1]),
        "vocab_size": len(trained.words), "corpus": config.corpus, "pipeline": pipeline.spec(),
        "pipeline_fingerprint": pipeline.fingerprint(), "token_file": str(token_file), **corpus_stats,
        "preprocess_seconds": round(prep_seconds, 3), **trained.meta,
        # a subword model was written into the output directory as fasttext.bin
        "files": ["vectors.npy", "vocab.txt", "meta.json", "config.yaml", *(["fasttext.bin"] if trained.subword else [])],
        "config": config.model_dump(mode="json"),
    }
    # Vectors.save writes vectors.npy + vocab.txt + meta.json (numpy and JSON, never a pickle).
    Vectors(trained.words, trained.matrix, meta).save(out)
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    return EmbedResult(out, meta)


def _pipeline(config: EmbedConfig) -> Any:
    from textseq.text.resolve import resolve_pipeline

    return resolve_pipeline(DEFAULT_PIPELINE if config.pipeline is None else config.pipeline, where="pipeline")


# ----------------------------------------------------------------------------- token file
def token_file_key(config: EmbedConfig, pipeline: Any) -> str:
    """A hash of everything that decides the token file's content."""
    sources = [_source_identity(s) for s in config.corpus]
    data = {"format": TOKEN_FILE_FORMAT, "pipeline": pipeline.fingerprint(), "sources": sources,
            "text_column": config.text_column, "max_documents": config.max_documents, "max_tokens": config.max_tokens}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()[:20]


def _source_identity(source: str) -> list[Any]:
    from textseq.corpora import split_file

    path = Path(source).expanduser()
    if not path.exists():
        path = split_file(source) or path  # not a fetched corpus either: reading it will say why
    if path.is_file():
        st = path.stat()
        return [source, str(path.resolve()), st.st_size, st.st_mtime_ns]
    return [source]


def prepare_token_file(config: EmbedConfig, pipeline: Any, *, progress: bool = False, engine: str = "local",
                       ray_address: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The cached token file for `config` (written now if missing, the pipeline running on `engine`:
    the file is the same whichever engine writes it) and its document/token counts."""
    from textseq.corpora.cache import cache_dir

    root = Path(config.token_cache) if config.token_cache else cache_dir() / "embeddings"
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"tokens-{token_file_key(config, pipeline)}.txt"
    stats_path = path.with_suffix(".json")
    if path.exists() and stats_path.exists():
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
    else:
        with atomic_path(path) as tmp:  # a half-written token file is never found and reused
            stats = _write_token_file(config, pipeline, tmp, progress, engine, ray_address)
        atomic_write_text(stats_path, json.dumps(stats) + "\n")
    if stats["tokens"] == 0:
        raise InputError(f"corpus {', '.join(config.corpus)} has no tokens after preprocessing "
                         f"(empty input, or the pipeline drops everything)")
    return path, stats


def _write_token_file(config: EmbedConfig, pipeline: Any, path: Path, progress: bool, engine: str,
                      ray_address: str | None) -> dict[str, Any]:
    from tqdm import tqdm

    from textseq.corpora.readers import iter_documents
    from textseq.text.engines import make_engine
    from textseq.text.files import PreprocessSummary

    documents = tokens = 0
    with make_engine(engine, jobs=config.n_proc, address=ray_address) as runner, \
            open(path, "w", encoding="utf-8", newline="\n") as fh, \
            tqdm(desc="preprocess", unit=" docs", disable=not progress) as bar:
        for source in config.corpus:
            docs = itertools.islice(iter_documents(source, text_column=config.text_column), config.max_documents)
            for _, result in runner.map(pipeline, docs, batch_size=256, errors="strict", summary=PreprocessSummary()):
                words = _clean_tokens(result)
                bar.update(1)
                if not words:
                    continue
                if config.max_tokens is not None and tokens + len(words) > config.max_tokens:
                    words = words[:config.max_tokens - tokens]
                fh.write(" ".join(words) + "\n")
                documents += 1
                tokens += len(words)
                if config.max_tokens is not None and tokens >= config.max_tokens:
                    break
            if config.max_tokens is not None and tokens >= config.max_tokens:
                break
    return {"documents": documents, "tokens": tokens}


def _clean_tokens(doc: Any) -> list[str]:
    """Token strings safe for a space-separated file: whitespace inside a token becomes '_'."""
    out = []
    for tok in doc:
        text = tok if isinstance(tok, str) else tok.text
        if not text or text.isspace():
            continue
        if any(c.isspace() for c in text):
            text = "_".join(text.split())
        out.append(text)
    return out


# ----------------------------------------------------------------------------- methods
def _epoch_bar(progress: bool, total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=" epoch", disable=not progress)


@METHODS.register("glove")
def _train_glove(token_file: Path, config: EmbedConfig, work_dir: Path, progress: bool) -> RawVectors:
    import shutil
    import tempfile

    from textseq.embeddings.cooccur import build_vocab, count_cooccurrences
    from textseq.embeddings.glove import train_glove

    cfg = config.glove
    t0 = time.perf_counter()
    vocab = build_vocab(token_file, cfg.min_count, cfg.max_vocab)
    scratch = Path(tempfile.mkdtemp(prefix=".cooc-", dir=work_dir))
    try:
        cooc = count_cooccurrences(token_file, vocab, window=cfg.window, symmetric=cfg.symmetric,
                                   max_memory_mb=cfg.max_memory_mb, work_dir=scratch)
        count_seconds = time.perf_counter() - t0
        with _epoch_bar(progress, cfg.epochs, "glove") as bar:

            def on_epoch(epoch: int, loss: float) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")

            result = train_glove(cooc, cfg, on_epoch=on_epoch)
        nnz = cooc.nnz
        del cooc  # release the memory maps before their files go
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    stats = {
        "cooccurrence_seconds": round(count_seconds, 3), "nonzero_entries": nnz,
        "training_seconds": round(result.seconds, 3), "updates": result.updates,
        "updates_per_second": round(result.updates_per_second), "threads": result.threads,
        "updates_per_second_per_core": round(result.updates_per_second_per_core),
        "words_per_second": round(vocab.total_tokens * cfg.epochs / result.seconds) if result.seconds > 0 else None,
        "losses": [round(x, 6) for x in result.losses],
    }
    return RawVectors(vocab.words, result.vectors, stats)


def _gensim_stats(result: Any) -> dict[str, Any]:
    return {"training_seconds": round(result.seconds, 3), "effective_words": result.effective_words,
            "raw_words": result.raw_words, "words_per_second": round(result.words_per_second),
            "threads": result.model.workers}


@METHODS.register("word2vec")
def _train_word2vec(token_file: Path, config: EmbedConfig, work_dir: Path, progress: bool) -> RawVectors:
    from textseq.embeddings.gensim_train import train_word2vec

    with _epoch_bar(progress, config.word2vec.epochs, "word2vec") as bar:
        result = train_word2vec(token_file, config.word2vec, on_epoch=lambda e: bar.update(1))
    return RawVectors(result.words, result.vectors, _gensim_stats(result))


@METHODS.register("fasttext")
def _train_fasttext(token_file: Path, config: EmbedConfig, work_dir: Path, progress: bool) -> RawVectors:
    from textseq.embeddings.gensim_train import save_fasttext_bin, train_fasttext

    with _epoch_bar(progress, config.fasttext.epochs, "fasttext") as bar:
        result = train_fasttext(token_file, config.fasttext, on_epoch=lambda e: bar.update(1))
    save_fasttext_bin(result.model, work_dir / "fasttext.bin")
    subword = FastTextSubwords(work_dir / "fasttext.bin", result.model.wv)
    return RawVectors(result.words, result.vectors, _gensim_stats(result), subword)
