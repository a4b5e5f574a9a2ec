"""Sharded corpora: a directory (or glob) of JSONL or Parquet files read as one input, in name order,
and preprocessing output written as such a directory.

    out/                      `preprocess -o out/ --format jsonl|parquet [--shard-size N]`
      part-00000.jsonl        records 0 .. N-1, in input order
      part-00001.jsonl        records N .. 2N-1
      pipeline.yaml           the pipeline spec that made them

Names are zero-padded, so name order is record order: reading the shards back in sorted order gives
the records of a single-file output, in the same order. The directory is filled under a temporary
name beside it and renamed into place at the end, so a half-written output never looks complete.
Either engine writes the same shards (the driver writes them, as it writes a single file).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from textseq.errors import ConfigError, InputError

FORMATS = ("jsonl", "parquet")
SHARD_SUFFIXES = {".jsonl": "jsonl", ".parquet": "parquet"}
DEFAULT_SHARD_SIZE = 100_000
SPEC_NAME = "pipeline.yaml"


def is_sharded(output: str | Path) -> bool:
    """True when the output `output` names a directory of shards: it ends with a slash (an existing
    directory named without one stays an error, so a typo never fills a folder with shards)."""
    return str(output).endswith(("/", os.sep))


def is_glob(source: str) -> bool:
    """True for an input such as `data/part-*.jsonl`."""
    return any(c in source for c in "*?[") and not Path(source).exists()


def is_shard_input(source: Any) -> bool:
    """True when `source` reads as sharded input: a directory with no *.txt file that is not a saved
    datasets directory, or a glob of .jsonl/.parquet files (textseq.corpora.readers dispatches on this)."""
    if not isinstance(source, (str, Path)) or str(source).startswith("hf:"):
        return False
    path = Path(str(source)).expanduser()
    if path.is_dir():
        from textseq.corpora.hf_datasets import is_saved_dataset

        return not is_saved_dataset(path) and not any(p.is_file() for p in path.rglob("*.txt"))
    return is_glob(str(source))


def shard_files(source: str | Path) -> list[Path]:
    """The shards a directory or glob names, in name order; InputError when there are none or the
    formats are mixed."""
    s = str(source)
    found = [Path(p) for p in glob.glob(s)] if is_glob(s) else list(Path(s).expanduser().iterdir())
    files = sorted((p for p in found if p.is_file() and p.suffix.lower() in SHARD_SUFFIXES), key=lambda p: p.name)
    if not files:
        what = "no .jsonl or .parquet file matches" if is_glob(s) else "no *.txt files, .jsonl/.parquet shards or saved datasets directory"
        raise InputError(f"{s}: {what}")
    kinds = {p.suffix.lower() for p in files}
    if len(kinds) > 1:
        raise InputError(f"{s}: mixes {' and '.join(sorted(kinds))} shards; keep one format per input")
    return files


def parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number from 1, row as a dict) of a Parquet file, a record batch at a time."""
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
    except Exception as err:  # ArrowInvalid and friends: not a Parquet file
        raise InputError(f"{path}: not a readable Parquet file: {err}") from None
    row = 0
    for batch in reader.iter_batches():
        for obj in batch.to_pylist():
            row += 1
            yield row, obj


def shard_documents(r: Any, source: str | Path, text_column: str, label_column: str | None, unit: str
                    ) -> Iterator[Any]:
    """The documents of every shard of `source` in name order, under the reader `r`'s --errors policy
    (textseq.corpora.readers); a document's id is its shard and line (JSONL) or row (Parquet)."""
    from textseq.corpora.readers import records_only

    records_only(unit, str(source))
    for path in shard_files(source):
        yield from read_shard(r, path, text_column, label_column)


def read_shard(r: Any, path: Path, text_column: str, label_column: str | None) -> Iterator[Any]:
    """The documents of one shard under the reader `r`'s policy, counted in `r.stats`: what every
    engine reads a shard with (the Ray engine in a task per shard, textseq.text.ray_read)."""
    from textseq.corpora.readers import _jsonl_docs, _record

    if path.suffix.lower() == ".jsonl":
        yield from _jsonl_docs(r, path, str(path), str(path), text_column, label_column)
        return
    for row, obj in parquet_rows(path):
        doc = _record(r, obj, f"{path}:{row}", f"{path}: row {row}", text_column, label_column, False)
        if doc is not None:
            yield doc


@dataclass
class ShardInput:
    """A sharded input with its reading policy. Iterated, it reads the shards here in order, as
    iter_documents does; the Ray engine instead reads each shard in a Ray task of its own and adds
    the tasks' counts to `stats`, so the counts are the same either way."""

    files: list[Path]
    text_column: str
    label_column: str | None
    errors: str
    skip_empty: bool
    stats: Any  # textseq.corpora.readers.ReadStats

    def __iter__(self) -> Iterator[Any]:
        from textseq.corpora.readers import Reader

        r = Reader(self.errors, self.skip_empty, self.stats)
        for path in self.files:
            yield from read_shard(r, path, self.text_column, self.label_column)


def shard_input(source: Any, *, text_column: str, label_column: str | None, unit: str, errors: str,
                skip_empty: bool, stats: Any) -> ShardInput | None:
    """`source` as a ShardInput when it is sharded (see is_shard_input), else None; the shards are
    listed, and a unit or policy that does not apply refused, now, before any engine starts."""
    from textseq.corpora.readers import ERRORS, UNITS, records_only

    if not is_shard_input(source):
        return None
    if unit not in UNITS:
        raise ConfigError(f"unknown unit {unit!r}; valid: {', '.join(UNITS)}")
    if errors not in ERRORS:
        raise ConfigError(f"unknown errors policy {errors!r}; valid: {', '.join(ERRORS)}")
    records_only(unit, str(source))
    return ShardInput(shard_files(source), text_column, label_column, errors, skip_empty, stats)


def iter_records(output: str | Path) -> Iterator[dict[str, Any]]:
    """The records of a preprocessing output, a JSONL file or a shard directory, in order."""
    files = shard_files(output) if is_sharded(output) or Path(output).is_dir() else [Path(output)]
    for path in files:
        if path.suffix.lower() == ".parquet":
            yield from (obj for _, obj in parquet_rows(path))
            continue
        with open(path, encoding="utf-8") as fh:
            yield from (json.loads(line) for line in fh)


def check_shard_output(output: str | Path, fmt: str, force: bool, inputs: list[Path]) -> None:
    """Before any work: the format fits the output, and an existing directory is replaced only with
    --force and only when it holds shards and a spec alone (never a directory of other files)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    path = Path(output)
    if not is_sharded(output):
        if fmt != "jsonl":
            raise ConfigError(f"--format {fmt} writes a directory of shards: end -o with a slash, e.g. {output}/")
        return
    if any(path.resolve() == p.resolve() or p.resolve() in path.resolve().parents for p in inputs):
        raise InputError(f"output {path} is, or is inside, an input; name another directory")
    if path.exists() and not path.is_dir():
        raise InputError(f"output {path} is a file, not a directory")
    if path.is_dir() and any(path.iterdir()):
        if not force:
            raise InputError(f"output directory {path} is not empty; give --force to replace it")
        other = [p.name for p in path.iterdir() if p.name != SPEC_NAME and p.suffix.lower() not in SHARD_SUFFIXES]
        if other:
            raise InputError(f"output directory {path} holds other files ({', '.join(sorted(other)[:3])}); "
                             f"--force replaces only a directory of shards")
    if not path.parent.is_dir():
        raise InputError(f"output {path}: the directory {path.parent} does not exist; create it first")


class ShardWriter:
    """Writes records to numbered shards of `shard_size` records in a temporary directory, which
    replaces `output` when the block completes (and is removed on an error)."""

    def __init__(self, output: str | Path, fmt: str = "jsonl", shard_size: int = DEFAULT_SHARD_SIZE) -> None:
        if shard_size < 1:
            raise ConfigError(f"--shard-size {shard_size}: expected at least 1")
        self.output = Path(output)
        self.fmt = fmt
        self.shard_size = shard_size
        self.shards = 0
        self._rows: list[dict[str, Any]] = []
        self._fh: Any = None
        self._tmp: Path | None = None

    def __enter__(self) -> "ShardWriter":
        try:
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.output.name}.", suffix=".tmp", dir=self.output.parent))
        except OSError as err:
            raise InputError(f"cannot write {self.output}: {err.strerror or err}") from None
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(self._tmp, 0o777 & ~mask)  # mkdtemp's 0700 would otherwise outlive the rename
        return self

    def write(self, record: dict[str, Any]) -> None:
        """Append one record; a full shard is closed and the next one opened."""
        if self.fmt == "parquet":
            self._rows.append(record)
            if len(self._rows) >= self.shard_size:
                self._flush_parquet()
            return
        if self._fh is None:
            self._fh = open(self._next_name(), "w", encoding="utf-8")
            self._count = 0
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._count += 1
        if self._count >= self.shard_size:
            self._fh.close()
            self._fh = None

    def _next_name(self) -> Path:
        assert self._tmp is not None
        name = self._tmp / f"part-{self.shards:05d}.{self.fmt}"
        self.shards += 1
        return name

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(self._rows), self._next_name())
        self._rows = []

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        assert self._tmp is not None
        try:
            if self._fh is not None:
                self._fh.close()
            if exc_type is None:
                if self._rows or (self.fmt == "parquet" and self.shards == 0):
                    self._flush_parquet()  # an empty input still gives one (empty) shard
                elif self.shards == 0:
                    self._next_name().touch()
                if self.output.is_dir():  # checked before the run: a directory of shards, replaced by --force
                    shutil.rmtree(self.output)
                os.replace(self._tmp, self.output)
        finally:
            if self._tmp.exists():
                shutil.rmtree(self._tmp, ignore_errors=True)
