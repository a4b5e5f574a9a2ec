"""`textseq preprocess`: run a preprocessing pipeline over a file, corpus or dataset -> JSONL."""

from __future__ import annotations

import argparse
import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

HELP = "run a preprocessing pipeline over text/CSV/JSONL/Parquet input and write JSONL (or Parquet shards)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from textseq.cliargs import positive_int
    from textseq.text.engines import add_engine_arguments

    p.add_argument("-c", "--config", help="pipeline: a preset name such as sentiment, or a YAML file (default: the "
                                          "default preset)")
    p.add_argument("-i", "--input", required=True,
                   help="a .txt (one document per line), .csv/.tsv, .jsonl file, a directory of .txt files or of "
                        ".jsonl/.parquet shards, a quoted glob of shards such as 'data/part-*.parquet', "
                        "CORPUS:SPLIT such as shakespeare:train or imdb:test, or hf:NAME[:CONFIG]:SPLIT")
    p.add_argument("-o", "--output", required=True,
                   help="output JSONL, one record per input document (the pipeline spec goes to OUTPUT.pipeline.yaml); "
                        "a path ending in / is a directory of shards part-00000.jsonl ... with pipeline.yaml")
    p.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl",
                   help="shard format of a directory output (default: jsonl)")
    p.add_argument("--shard-size", type=positive_int, default=None,
                   help="records per shard of a directory output (default: 100,000)")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT and OUTPUT.pipeline.yaml if they exist")
    p.add_argument("--errors", choices=["strict", "replace", "skip"], default="strict",
                   help="undecodable input: stop naming file and line (strict, the default), use U+FFFD (replace), "
                        "or skip the document and count it (skip)")
    p.add_argument("--text-column", default="text",
                   help="column holding the text in CSV/JSONL/datasets input (default: text)")
    p.add_argument("--label-column", default=None, help="column copied to each record as 'label' (default: none)")
    p.add_argument("--unit", choices=["auto", "line", "file"], default="auto",
                   help="for text files: one document per line or per file (default: auto, which is line)")
    p.add_argument("--skip-empty", action="store_true", help="drop empty documents (they are counted)")
    p.add_argument("--offsets", action="store_true", help="write each token's [start, end) in the original text")
    p.add_argument("--jobs", type=positive_int, default=None,
                   help="worker processes, or Ray actors with --engine ray (default: all cores, or every CPU of "
                        "the Ray cluster joined)")
    add_engine_arguments(p)
    p.add_argument("--batch-size", type=positive_int, default=256, help="documents per batch (default: 256)")
    p.add_argument("--limit", type=positive_int, default=None, help="process only the first N documents (default: all)")
    p.add_argument("--summary", action="store_true", help="also print the most frequent tokens")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from textseq.fileio import atomic_path, check_output_path, input_paths
    from textseq.text.files import preprocess_to_jsonl
    from textseq.text.pipeline import Pipeline
    from textseq.text.shards import SPEC_NAME, check_shard_output, is_glob, is_sharded

    # every check before the first byte is read: an output over an input would empty it
    inputs = input_paths(args.input, args.config)
    inputs += [Path(args.input).parent] if is_glob(args.input) else []  # a glob's folder: never the output
    check_shard_output(args.output, args.format, args.force, inputs)
    if is_sharded(args.output):  # the spec goes into the directory, once its shards are in place
        spec_path = str(Path(args.output) / SPEC_NAME)
    else:
        check_output_path(args.output, args.force, "output", inputs)
        spec_path = str(args.output) + ".pipeline.yaml"
        check_output_path(spec_path, args.force, "pipeline spec", inputs)
    pipeline = Pipeline.load(args.config) if args.config else Pipeline.default()
    log.debug(f"pipeline: {pipeline!r}")
    with _torch_hidden():
        summary = preprocess_to_jsonl(
            pipeline, args.input, args.output, text_column=args.text_column, label_column=args.label_column,
            unit=args.unit, errors=args.errors, skip_empty=args.skip_empty, batch_size=args.batch_size,
            n_proc=args.jobs, with_offsets=args.offsets, limit=args.limit,
            progress=False if args.no_progress else None, engine=args.engine, ray_address=args.ray_address,
            fmt=args.format, shard_size=args.shard_size,
        )
    with atomic_path(spec_path) as tmp:  # the spec travels with its output
        pipeline.save(tmp)
    if args.summary:
        _print_top_tokens(args.output)
        print(f"pipeline: {pipeline!r} (spec saved to {spec_path})")
    log.info(summary.line())
    if summary.documents == 0:
        log.warning(f"{args.input}: no documents to preprocess; {args.output} is empty")
    return 0


@contextmanager
def _torch_hidden() -> Iterator[None]:
    """Make `import torch` fail while this command preprocesses, unless torch is already loaded.

    spaCy imports thinc, and thinc imports torch whenever it is installed, only to probe for GPUs:
    over a second per process (this one with --jobs 1, else each forked worker, which inherits the
    marker) for a tokenizer that never touches it. No text stage uses torch. thinc then records
    "no torch" for the life of the process, which is why this is done here, in a process that only
    preprocesses, and not in the library, whose users may want spaCy's torch models alongside."""
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # the import system's "not importable" marker
    try:
        yield
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


def _print_top_tokens(path: str, n: int = 15) -> None:
    from collections import Counter

    from textseq.text.shards import iter_records

    counts: Counter[str] = Counter()
    for record in iter_records(path):
        counts.update(record.get("tokens") or [])
    print(f"distinct tokens: {len(counts):,}")
    print("most frequent: " + ", ".join(f"{t} ({c:,})" for t, c in counts.most_common(n)))
