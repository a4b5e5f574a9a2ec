"""Run a pipeline over files, corpora or datasets and write one JSONL record per input document.

Nothing is lost silently: documents that could not be decoded or processed are either an error
naming the file and line (errors="strict") or skipped and counted (errors="skip"), and the summary
says how many.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Literal

from textseq.errors import InputError
from textseq.fileio import atomic_open
from textseq.log import progress_enabled
from textseq.text.pipeline import Pipeline, _batched, map_in_processes

log = logging.getLogger(__name__)

ErrorPolicy = Literal["strict", "replace", "skip"]


@dataclass
class PreprocessSummary:
    """What a preprocessing run did: every input document is accounted for."""

    documents: int = 0  # records written
    tokens: int = 0
    skipped: int = 0  # documents not written (undecodable with errors=skip, or a stage failed)
    empty: int = 0
    replaced: int = 0  # documents with undecodable bytes replaced by U+FFFD
    malformed: int = 0  # of the skipped: rows with the wrong fields or types (errors=skip)
    seconds: float = 0.0
    output: str = ""

    def line(self) -> str:
        """The one-line summary the CLI prints last."""
        return (f"preprocess: {self.documents:,} documents, {self.tokens:,} tokens, {self.skipped:,} skipped "
                f"({self.empty:,} empty, {self.replaced:,} with replaced bytes), {self.seconds:.1f} s"
                + (f" -> {self.output}" if self.output else ""))


def default_jobs() -> int:
    """Worker processes to use: every core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def process_documents(pipeline: Pipeline, docs: Iterable[Any], *, batch_size: int = 256, n_proc: int = 1,
                      errors: ErrorPolicy = "strict", summary: PreprocessSummary | None = None
                      ) -> Iterator[tuple[Any, Any]]:
    """Yield (document, result) in input order. `docs` are corpus Documents (with .text and .id).
    A document on which a stage fails is an InputError naming it, or (errors="skip") counted."""
    summary = summary if summary is not None else PreprocessSummary()
    batches = _batched(docs, batch_size)
    if n_proc <= 1:
        for batch in batches:
            try:
                outs = pipeline.run_batch([d.text for d in batch])
            except Exception:  # a stage failed somewhere in this batch: find the document
                yield from _one_by_one(pipeline, batch, errors, summary)
                continue
            yield from zip(batch, outs)
        return
    # Keep the documents of in-flight batches beside their results; both are bounded by the window.
    batches, for_workers = itertools.tee(batches)
    results = map_in_processes(pipeline.spec(), ([d.text for d in b] for b in for_workers), n_proc)
    for batch in batches:
        try:
            outs = next(results)
        except Exception:
            # The pool is gone after a failure: settle this batch here, then go on with a new pool
            # over what is left (the batches already sent are still buffered in `batches`).
            yield from _one_by_one(pipeline, batch, errors, summary)
            yield from process_documents(pipeline, itertools.chain.from_iterable(batches), batch_size=batch_size,
                                         n_proc=n_proc, errors=errors, summary=summary)
            return
        yield from zip(batch, outs)


def _one_by_one(pipeline: Pipeline, batch: list[Any], errors: ErrorPolicy, summary: PreprocessSummary
                ) -> Iterator[tuple[Any, Any]]:
    for doc in batch:
        try:
            result = pipeline.run_batch([doc.text])[0]
        except Exception as err:
            if errors != "skip":
                raise InputError(f"{doc.id}: preprocessing failed: {type(err).__name__}: {err}") from err
            summary.skipped += 1
            continue
        yield doc, result


def preprocess_to_jsonl(pipeline: Pipeline, source: str | Path, output: str | Path, *, text_column: str = "text",
                        label_column: str | None = None, unit: str = "auto", errors: ErrorPolicy = "strict",
                        skip_empty: bool = False, batch_size: int = 256, n_proc: int | None = None,
                        with_offsets: bool = False, limit: int | None = None, progress: bool | None = None,
                        engine: str = "local", ray_address: str | None = None, fmt: str = "jsonl",
                        shard_size: int | None = None) -> PreprocessSummary:
    """Read `source` (text/CSV/JSONL file, directory or glob of shards, `corpus:split` or HF dataset),
    run the pipeline on `engine` ("local" processes or "ray", see textseq.text.engines), write records
    {"id", "tokens" (or "text"), ["offsets"], ["label"]} to `output`: a JSONL file, or with a
    trailing slash a directory of `fmt` shards of `shard_size` records (textseq.text.shards)."""
    from textseq.corpora.readers import ReadStats, iter_documents
    from textseq.text.engines import make_engine
    from textseq.text.shards import shard_input

    start = time.perf_counter()
    stats = ReadStats()
    summary = PreprocessSummary(output=str(output))
    # Shards without --limit go to the engine as shards: Ray reads each in a task of its own (a limit
    # is a count of documents read in order, which only the driver's reading can stop at).
    docs: Iterable[Any] | None = None if limit is not None else shard_input(
        source, text_column=text_column, label_column=label_column, unit=unit, errors=errors,
        skip_empty=skip_empty, stats=stats)
    if docs is None:
        docs = iter_documents(source, text_column=text_column, label_column=label_column, unit=unit,
                              errors=errors, stats=stats, skip_empty=skip_empty)
    if limit is not None:
        docs = itertools.islice(docs, limit)
    log.debug(f"preprocessing {source} on the {engine} engine with {n_proc or 'all'} worker(s), "
              f"batches of {batch_size}")
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    # (the engine starts before the output is opened: a Ray that cannot start leaves no file behind)
    with make_engine(engine, jobs=n_proc, address=ray_address) as runner:
        bar = _progress_bar(progress)
        # a half-written output never looks complete, and none is left behind on an error
        with _sink(output, fmt, shard_size) as write:
            for doc, result in runner.map(pipeline, docs, batch_size=batch_size, errors=errors, summary=summary):
                write(_record(doc, result, with_offsets))
                summary.documents += 1
                summary.tokens += len(result) if isinstance(result, list) else 0
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
    summary.skipped += stats.skipped
    summary.empty = stats.empty
    summary.replaced = stats.replaced
    summary.malformed = stats.malformed
    summary.seconds = time.perf_counter() - start
    return summary


@contextmanager
def _sink(output: str | Path, fmt: str, shard_size: int | None) -> Iterator[Callable[[dict[str, Any]], None]]:
    """write(record) into a JSONL file, or into a directory of shards when `output` names one."""
    from textseq.text.shards import DEFAULT_SHARD_SIZE, ShardWriter, is_sharded

    if is_sharded(output):
        with ShardWriter(output, fmt, shard_size or DEFAULT_SHARD_SIZE) as shards:
            yield shards.write
        return
    with atomic_open(output) as fh:
        yield lambda record: fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _progress_bar(progress: bool | None) -> Any:
    """A tqdm bar, or None (and tqdm never imported) when no bar is wanted."""
    if not progress_enabled(progress):
        return None
    from tqdm import tqdm

    # The bar appears only if the run lasts more than a couple of seconds.
    return tqdm(unit="doc", desc="preprocess", delay=2.0, mininterval=0.5)


def _record(doc: Any, result: Any, with_offsets: bool) -> dict[str, Any]:
    rec: dict[str, Any] = {"id": doc.id}
    if isinstance(result, str):
        rec["text"] = result
    else:
        rec["tokens"] = [t.text for t in result]
        if with_offsets:
            rec["offsets"] = [[t.start, t.end] for t in result]
    label = getattr(doc, "label", None)
    if label is not None:
        rec["label"] = label
    return rec
