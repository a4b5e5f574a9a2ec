"""Sharded input read inside Ray: one Ray Data task per shard, with textseq's own shard reader.

A task reads its shard with textseq.text.shards.read_shard (the code every engine reads a shard
with) under the run's --errors policy, and emits the shard's documents in Arrow blocks, followed by
one trailer row: no text, and in `meta` the shard's read counts and the error that stopped it, if
any. Rows carry a sort key, shard number << 32 | row, so the driver can check that Ray Data's
preserve_order kept them in input order; as the trailers arrive, in order, the driver adds their
counts up and raises the first error, so the counts and the message are the ones the local engine
gives (see RayEngine.map).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from textseq.errors import InputError

SHARD_SHIFT = 32  # row numbers within a shard stay below 2**32


def read_dataset(shards: Any, block_rows: int, concurrency: int) -> Any:
    """A Ray Dataset of the documents of `shards` (a textseq.text.shards.ShardInput), one read task
    per shard, at most `concurrency` at a time."""
    import ray.data

    items = [{"k": k, "path": str(p)} for k, p in enumerate(shards.files)]
    # num_cpus=0: the pipeline actors may hold every CPU, and a read task waiting for one would
    # wait for ever; reading costs little beside the pipeline
    return ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        read_shards, batch_size=1, batch_format="pyarrow", num_cpus=0, concurrency=max(1, concurrency),
        fn_kwargs={"text_column": shards.text_column, "label_column": shards.label_column,
                   "errors": shards.errors, "skip_empty": shards.skip_empty, "block_rows": block_rows})


def read_shards(batch: Any, *, text_column: str, label_column: str | None, errors: str, skip_empty: bool,
                block_rows: int) -> Iterator[Any]:
    """In a Ray task: for each shard of `batch` (columns k, path), its documents in blocks of
    `block_rows` rows, then its trailer row."""
    from textseq.corpora.readers import Reader, ReadStats
    from textseq.text.shards import read_shard

    for k, path in zip(batch.column("k").to_pylist(), batch.column("path").to_pylist()):
        stats = ReadStats()
        reader = Reader(errors, skip_empty, stats)
        rows: list[tuple[Any, ...]] = []
        error = None
        n = 0
        try:
            for doc in read_shard(reader, Path(path), text_column, label_column):
                label = None if doc.label is None else json.dumps(doc.label, ensure_ascii=False)
                rows.append(((k << SHARD_SHIFT) | n, doc.id, label, doc.text, None))
                n += 1
                if len(rows) >= block_rows:
                    yield _table(rows)
                    rows = []
        except InputError as err:  # raised by the driver when it reaches this point of the input
            error = str(err)
        meta = {"stats": asdict(stats), "error": error, "pid": os.getpid()}
        rows.append(((k << SHARD_SHIFT) | n, None, None, None, json.dumps(meta)))
        yield _table(rows)


def _table(rows: list[tuple[Any, ...]]) -> Any:
    import pyarrow as pa

    schema = pa.schema([("i", pa.int64()), ("id", pa.string()), ("label", pa.string()), ("text", pa.string()),
                        ("meta", pa.string())])
    return pa.table([pa.array(col, field.type) for col, field in zip(zip(*rows), schema)], schema=schema)


def settle(meta: str, stats: Any, pids: set[int]) -> None:
    """In the driver, at a shard's trailer: add its counts to `stats` (a ReadStats), note the process
    that read it, and raise the error that stopped its reading."""
    got = json.loads(meta)
    for name, value in got["stats"].items():
        setattr(stats, name, getattr(stats, name) + value)
    pids.add(got["pid"])
    if got["error"] is not None:
        raise InputError(got["error"])
