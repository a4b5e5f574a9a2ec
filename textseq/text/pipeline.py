"""A preprocessing pipeline: an ordered list of stages, declared in YAML, validated strictly, saved
with every artefact that depends on it, and run on one string, a stream, files or a `datasets`
dataset.

    text --TextStage*--> text --Tokenizer--> tokens --TokenStage*--> tokens

Token offsets point into the *original* document by default: text stages report their edits, which
build an offset map from the normalized text back to the original (see textseq.text.align).
"""

from __future__ import annotations

import gc
import hashlib
import json
import sys
from array import array
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Sequence

import yaml
from pydantic import Field

from textseq.config import StrictModel, validate
from textseq.errors import ConfigError
from textseq.text.align import IDENTITY, OffsetMap, identity_spans
from textseq.text.base import Stage, TextStage, Token, Tokenizer, map_token_batches, stage_from_spec, tokens_from

FORMAT = "textseq.pipeline"
VERSION = 1
DEFAULT_PRESET = "default"  # configs/preprocess/default.yaml, shipped in the package
# Documents longer than this are cut at line breaks (else whitespace) and processed piece by piece,
# so that a single 50 MB line runs in bounded memory. No token spans a cut.
CHUNK_CHARS = 1_000_000

Offsets = Literal["original", "normalized"]


class PipelineSpec(StrictModel):
    """The YAML/JSON form of a pipeline."""

    format: Literal["textseq.pipeline"] = FORMAT
    version: int = VERSION
    name: str | None = None
    description: str | None = None
    offsets: Offsets = "original"
    stages: list[dict[str, Any]] = Field(min_length=1)


class Pipeline:
    """An ordered, type-checked sequence of stages."""

    def __init__(self, stages: Sequence[Stage], *, offsets: Offsets = "original", name: str | None = None,
                 description: str | None = None) -> None:
        self.stages = tuple(stages)
        self.offsets = offsets
        self.name = name
        self.description = description
        _check_kinds(self.stages)
        n_text = 0
        while n_text < len(self.stages) and self.stages[n_text].produces == "text":
            n_text += 1
        self.text_stages: tuple[TextStage, ...] = self.stages[:n_text]  # type: ignore[assignment]
        self.tokenizer: Stage | None = self.stages[n_text] if n_text < len(self.stages) else None
        self.token_stages = self.stages[n_text + 1:]

    # ----------------------------------------------------------------- construction and specs
    @classmethod
    def from_spec(cls, data: Any, where: str = "pipeline") -> "Pipeline":
        """Build from plain data (a parsed YAML/JSON spec); errors name `where` and the stage."""
        if isinstance(data, list):  # a bare list of stages is accepted too
            data = {"stages": data}
        spec = validate(PipelineSpec, data, where)
        stages = [stage_from_spec(s, f"{where}: stages[{i}]") for i, s in enumerate(spec.stages)]
        try:
            return cls(stages, offsets=spec.offsets, name=spec.name, description=spec.description)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None

    @classmethod
    def load(cls, ref: str | Path) -> "Pipeline":
        """Load a pipeline from a YAML or JSON file, or a preset name such as `sentiment`."""
        from textseq.text.resolve import resolve_pipeline

        return resolve_pipeline(ref)

    @classmethod
    def default(cls) -> "Pipeline":
        """The `default` preset: normalize, spaCy words, stop words, lookup lemmas."""
        return cls.load(DEFAULT_PRESET)

    def spec(self) -> dict[str, Any]:
        """The pipeline as plain data; `Pipeline.from_spec(p.spec())` rebuilds an identical pipeline."""
        out: dict[str, Any] = {"format": FORMAT, "version": VERSION}
        if self.name:
            out["name"] = self.name
        if self.description:
            out["description"] = self.description
        out["offsets"] = self.offsets
        out["stages"] = [s.spec() for s in self.stages]
        return out

    def save(self, path: str | Path) -> Path:
        """Write the spec as YAML (or JSON when the suffix is .json)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json":
            path.write_text(json.dumps(self.spec(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(self.spec(), sort_keys=False, allow_unicode=True), encoding="utf-8")
        return path

    def fingerprint(self) -> str:
        """A short hash of the spec: equal fingerprints mean identical output."""
        canonical = json.dumps(self.spec(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    @property
    def produces(self) -> str:
        return self.stages[-1].produces

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pipeline) and self.spec() == other.spec()

    def __repr__(self) -> str:
        return f"Pipeline({' -> '.join(s.name for s in self.stages)})"

    # ----------------------------------------------------------------- running
    def __call__(self, text: str) -> Any:
        """Run on one document: a list of Tokens, or a str for text-only pipelines."""
        return self.run_batch([text])[0]

    def tokens(self, text: str) -> list[str]:
        """Run on one document and return just the token strings."""
        return [t.text for t in self(text)]

    def run_batch(self, texts: Sequence[str]) -> list[Any]:
        """Run on a batch of documents (tokenizers that batch, like spaCy's, use the whole batch)."""
        with gc_paused():
            return self._run_batch(texts)

    def _run_batch(self, texts: Sequence[str]) -> list[Any]:
        if self.tokenizer is None:  # text in, text out: no offsets to carry
            out = list(texts)
            for stage in self.text_stages:
                out = stage.process_batch(out)
            return out
        long_docs = [i for i, t in enumerate(texts) if len(t) > CHUNK_CHARS]
        if long_docs:
            return self._run_with_long_docs(texts, set(long_docs))
        if self.offsets == "original" and self.text_stages:
            return self._run_aligned(texts)
        normalized = list(texts)
        for stage in self.text_stages:
            normalized = stage.process_batch(normalized)
        return self._tokenize_and_filter(normalized)

    def _run_aligned(self, texts: Sequence[str]) -> list[list[Token]]:
        """Original offsets: the stages' edits build one OffsetMap per document (none for the many
        documents no stage changes in length), which the tokenizer maps its spans through."""
        if not all(stage.reports_edits() for stage in self.text_stages):
            return self._run_with_span_lists(texts)
        normalized, maps = [], []
        for text in texts:
            omap = IDENTITY
            for stage in self.text_stages:
                out, edits = stage.rewrite(text)
                if edits:
                    omap = omap.then(edits, len(text))
                text = out
            normalized.append(text)
            maps.append(omap)
        n_orig = [len(t) for t in texts]
        if isinstance(self.tokenizer, Tokenizer):
            return self._filter(self.tokenizer.process_mapped(normalized, maps, n_orig))
        return self._filter(map_token_batches(self._tokenize(normalized), normalized, maps, n_orig))

    def _run_with_span_lists(self, texts: Sequence[str]) -> list[list[Token]]:
        """For stages that override only `TextStage.aligned`: per-character spans for every stage,
        then an OffsetMap with one piece per character, so tokens map as they do above."""
        normalized, maps = [], []
        for text in texts:
            starts, ends = identity_spans(text)
            for stage in self.text_stages:
                text, starts, ends = stage.aligned(text, starts, ends)
            normalized.append(text)
            maps.append(OffsetMap(list(range(len(starts))), starts, ends, [0] * len(starts)))
        return self._filter(map_token_batches(self._tokenize(normalized), normalized, maps, [len(t) for t in texts]))

    def _run_with_long_docs(self, texts: Sequence[str], long_docs: set[int]) -> list[Any]:
        short = [t for i, t in enumerate(texts) if i not in long_docs]
        short_out = iter(self._run_batch(short)) if short else iter(())
        results = []
        for i, text in enumerate(texts):
            if i not in long_docs:
                results.append(next(short_out))
                continue
            tokens: list[Token] = []
            for base, piece in split_long_text(text, CHUNK_CHARS):
                for tok in self._run_batch([piece])[0]:
                    tokens.append(Token(tok.text, tok.start + base, tok.end + base))
            results.append(tokens)
        return results

    def _tokenize(self, texts: list[str]) -> list[list[Token]]:
        assert self.tokenizer is not None
        return self.tokenizer.process_batch(texts)

    def _filter(self, batches: list[list[Token]]) -> list[list[Token]]:
        for stage in self.token_stages:
            batches = stage.process_batch(batches)
        return batches

    def _tokenize_and_filter(self, texts: list[str]) -> list[list[Token]]:
        return self._filter(self._tokenize(texts))

    def stream(self, texts: Iterable[str], *, batch_size: int = 256, n_proc: int = 1) -> Iterator[Any]:
        """Run over an iterable in order, in constant memory; `n_proc > 1` uses worker processes."""
        batches = _batched(texts, batch_size)
        if n_proc <= 1:
            for batch in batches:
                yield from self.run_batch(batch)
            return
        for result in map_in_processes(self.spec(), batches, n_proc):
            yield from result

    def map_dataset(self, dataset: Any, *, column: str = "text", output_column: str = "tokens",
                    with_offsets: bool = False, num_proc: int | None = None, batch_size: int = 1000,
                    **map_kwargs: Any) -> Any:
        """Run as a `datasets` map: cached by the datasets library (keyed on this pipeline's spec)
        and parallel with `num_proc`."""
        if column not in dataset.column_names:
            raise ConfigError(f"dataset has no column {column!r}; columns: {', '.join(dataset.column_names)}")
        mapper = DatasetMapper(json.dumps(self.spec(), sort_keys=True), column, output_column, with_offsets)
        return dataset.map(mapper, batched=True, batch_size=batch_size, num_proc=num_proc,
                           desc=map_kwargs.pop("desc", "textseq preprocess"), **map_kwargs)


# --------------------------------------------------------------------------------- helpers
@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while a batch is processed.

    A batch allocates hundreds of thousands of small tuples (tokens) and no reference cycles; every
    few hundred allocations the collector would walk the whole heap (spaCy's tables, lookup dicts,
    results kept by the caller), which measured as half of the pipeline's time. Reference counting
    still frees everything; the collector resumes, unchanged, when the batch is done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check_kinds(stages: Sequence[Stage]) -> None:
    if not stages:
        raise ConfigError("a pipeline needs at least one stage")
    current = "text"
    for i, stage in enumerate(stages):
        if stage.consumes != current:
            raise ConfigError(
                f"stages[{i}] ({stage.name}) consumes {stage.consumes} but receives {current}"
                + (": put a tokenizer before it" if stage.consumes == "tokens" else
                   ": a pipeline has one tokenizer, after all text stages")
            )
        current = stage.produces


def split_long_text(text: str, limit: int) -> Iterator[tuple[int, str]]:
    """Cut `text` into pieces of at most about `limit` chars at a newline, else at whitespace,
    else (one enormous word) anywhere; yields (offset, piece)."""
    pos = 0
    n = len(text)
    while pos < n:
        end = min(pos + limit, n)
        if end < n:
            cut = text.rfind("\n", pos + limit // 2, end)
            if cut < 0:
                cut = max(text.rfind(" ", pos + limit // 2, end), text.rfind("\t", pos + limit // 2, end))
            if cut > pos:
                end = cut + 1
        yield pos, text[pos:end]
        pos = end


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# Worker processes build the pipeline once from its spec; stages load their resources lazily there.
_WORKER_PIPELINE: Pipeline | None = None


def _init_worker(spec: dict[str, Any]) -> None:
    global _WORKER_PIPELINE
    _WORKER_PIPELINE = Pipeline.from_spec(spec)
    _WORKER_PIPELINE.run_batch(["Load every resource now."])
    gc.freeze()  # what is loaded now lives as long as the worker: keep it out of every collection


def _run_in_worker(batch: list[str]) -> Any:
    assert _WORKER_PIPELINE is not None
    # Packed before the collector resumes: the Tokens are freed unseen, where a collection on resuming
    # would first walk them all (see gc_paused).
    with gc_paused():
        return pack_results(_WORKER_PIPELINE._run_batch(batch))


def pack_results(results: list[Any]) -> Any:
    """Token lists -> (strings, starts, ends as bytes) per document: far cheaper to send between
    processes than pickled Token tuples, and built in C (zip, array). Text results go as they are."""
    if not results or isinstance(results[0], str):
        return results
    packed = []
    for toks in results:
        if not toks:
            packed.append(((), b"", b""))
            continue
        texts, starts, ends = zip(*toks)
        packed.append((texts, array("q", starts).tobytes(), array("q", ends).tobytes()))
    return packed


def unpack_results(packed: Any) -> list[Any]:
    """The inverse of `pack_results`."""
    if not packed or isinstance(packed[0], str):
        return packed
    with gc_paused():
        out = []
        for texts, raw_starts, raw_ends in packed:
            starts, ends = array("q"), array("q")
            starts.frombytes(raw_starts)
            ends.frombytes(raw_ends)
            out.append(tokens_from(texts, starts, ends))
        return out


def map_in_processes(spec: dict[str, Any], batches: Iterable[list[str]], n_proc: int) -> Iterator[list[Any]]:
    """Run batches in `n_proc` processes, yielding results in input order. At most 2*n_proc batches
    are in flight, so memory stays constant however long the input is."""
    from textseq.text.engines import worker_context

    ctx = worker_context()
    with ProcessPoolExecutor(max_workers=n_proc, mp_context=ctx, initializer=_init_worker, initargs=(spec,)) as pool:
        pending: deque[Future] = deque()
        for batch in batches:
            pending.append(pool.submit(_run_in_worker, batch))
            if len(pending) >= 2 * n_proc:
                yield unpack_results(pending.popleft().result())
        while pending:
            yield unpack_results(pending.popleft().result())


class DatasetMapper:
    """The callable handed to `datasets.map`. Its pickled state is only the spec and column names,
    so the datasets fingerprint (and cache) is stable across runs and processes."""

    def __init__(self, spec_json: str, column: str, output_column: str, with_offsets: bool) -> None:
        self.spec_json = spec_json
        self.column = column
        self.output_column = output_column
        self.with_offsets = with_offsets
        self._pipeline: Pipeline | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"spec_json": self.spec_json, "column": self.column, "output_column": self.output_column,
                "with_offsets": self.with_offsets}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pipeline = None

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if self._pipeline is None:
            self._pipeline = Pipeline.from_spec(json.loads(self.spec_json))
        texts = ["" if t is None else str(t) for t in batch[self.column]]
        results = self._pipeline.run_batch(texts)
        if self._pipeline.produces == "text":
            return {self.output_column: results}
        out: dict[str, list[Any]] = {self.output_column: [[t.text for t in toks] for toks in results]}
        if self.with_offsets:
            out[f"{self.output_column}_offsets"] = [[[t.start, t.end] for t in toks] for toks in results]
        return out
