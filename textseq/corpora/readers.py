"""Read documents from any input textseq accepts, one at a time, in constant memory.

    iter_documents("notes.txt")                  one document per line
    iter_documents("notes.txt", unit="file")     the whole file is one document
    iter_documents("essays/")                    each *.txt under the directory is one document
    iter_documents("reviews.csv", label_column="label")      .csv / .tsv, one row each
    iter_documents("reviews.jsonl")              .jsonl / .json lines, one object each
    iter_documents("shakespeare:train")          a fetched corpus split (see textseq.corpora)
    iter_documents("imdb:test")                  JSONL corpora yield their labels by default
    iter_documents("hf:imdb:train")              datasets.load_dataset(NAME[, CONFIG], split=SPLIT)
    iter_documents("saved_ds/")                  a directory written by datasets' save_to_disk
                                                 (the datasets sources live in textseq.corpora.hf_datasets)

Files are read as bytes and decoded as UTF-8 line by line (a leading BOM is dropped), so an
undecodable byte is reported with its file, line and byte offset, and a line of any length works.
Lines end at b"\\n" only (a trailing "\\r" is dropped); U+2028, U+0085 and lone "\\r" stay inside
the document, unlike str.splitlines.

errors="strict" raises InputError at the first invalid byte; "replace" substitutes U+FFFD and counts
the document in stats.replaced; "skip" drops the document and counts it in stats.skipped. A JSON
line that does not parse is an error unless errors="skip". Documents with NUL characters are kept
(stages deal with them) and counted in stats.nul. A document with no non-whitespace character is
counted in stats.empty and still yielded unless skip_empty=True (then also counted as skipped).
"""

from __future__ import annotations

import csv
import json
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal, NamedTuple

from textseq.errors import ConfigError, InputError

Unit = Literal["line", "file", "auto"]
Errors = Literal["strict", "replace", "skip"]
log = logging.getLogger(__name__)
UNITS = ("line", "file", "auto")
ERRORS = ("strict", "replace", "skip")
BOM = b"\xef\xbb\xbf"


class Document(NamedTuple):
    """One document: its text, where it came from (`path:line`, `corpus:split:line`, ...), and an optional label."""

    text: str
    id: str
    label: str | None = None
    meta: dict[str, Any] | None = None


@dataclass
class ReadStats:
    """Counts gathered while reading; pass one object to several reads to add them up."""

    documents: int = 0  # yielded
    skipped: int = 0  # dropped: invalid bytes, malformed rows with errors="skip", or empty with skip_empty
    malformed: int = 0  # of those: rows with the wrong number of fields, missing columns or wrong types
    replaced: int = 0  # yielded with invalid bytes replaced by U+FFFD
    empty: int = 0  # no non-whitespace character (yielded or not)
    nul: int = 0  # containing at least one NUL character
    bytes: int = 0  # bytes read (UTF-8 length of the text for in-memory datasets)

    def summary(self) -> str:
        """'1,234 documents (5.6 MB); 0 skipped, 0 with replaced bytes, 3 empty, 0 with NUL'."""
        return (f"{self.documents:,} documents ({self.bytes / 1e6:.1f} MB); {self.skipped:,} skipped "
                f"({self.malformed:,} malformed), {self.replaced:,} with replaced bytes, {self.empty:,} empty, "
                f"{self.nul:,} with NUL")

    def warn_skipped(self, source: str) -> None:
        """One warning when anything was left out (errors="skip"), so nothing goes missing unsaid."""
        if self.skipped:
            log.warning(f"{source}: {self.skipped:,} document(s) skipped ({self.malformed:,} malformed rows, "
                        f"{self.skipped - self.malformed:,} undecodable or empty)")


class Reader:
    """Shared state of one `iter_documents` call: the policies and the stats."""

    def __init__(self, errors: str, skip_empty: bool, stats: ReadStats) -> None:
        self.errors, self.skip_empty, self.stats = errors, skip_empty, stats

    def malformed(self, message: str) -> None:
        """A row that does not fit the file's shape: InputError (strict, replace) or skipped and counted."""
        if self.errors != "skip":
            raise InputError(message)
        self.stats.skipped += 1
        self.stats.malformed += 1

    def emit(self, text: str, doc_id: str, label: Any = None, replaced: bool = False) -> Document | None:
        s = self.stats
        if not text or text.isspace():
            s.empty += 1
            if self.skip_empty:
                s.skipped += 1
                return None
        if "\x00" in text:
            s.nul += 1
        if replaced:
            s.replaced += 1
        s.documents += 1
        return Document(text, doc_id, None if label is None else str(label))

    def decode(self, raw: bytes, where: str, line: int, offset: int) -> tuple[str | None, bool]:
        """(text, had_invalid_bytes); text is None when the document is to be skipped."""
        try:
            return raw.decode("utf-8"), False
        except UnicodeDecodeError as err:
            if self.errors == "strict":
                raise InputError(
                    f"{where}:{line}: invalid UTF-8 byte 0x{raw[err.start]:02x} at byte offset {offset + err.start} "
                    f"(column {err.start + 1} of line {line}); read with errors='replace' or 'skip' to continue"
                ) from None
            if self.errors == "skip":
                self.stats.skipped += 1
                return None, True
            return raw.decode("utf-8", "replace"), True


def iter_documents(
    source: str | Path | Any,
    *,
    text_column: str = "text",
    label_column: str | None = None,
    unit: Unit = "auto",
    errors: Errors = "strict",
    skip_empty: bool = False,
    stats: ReadStats | None = None,
) -> Iterator[Document]:
    """Yield the documents of `source` (a path, `corpus:split`, `hf:NAME[:CONFIG]:SPLIT` or a datasets.Dataset)."""
    if unit not in UNITS:
        raise ConfigError(f"unknown unit {unit!r}; valid: {', '.join(UNITS)}")
    if errors not in ERRORS:
        raise ConfigError(f"unknown errors policy {errors!r}; valid: {', '.join(ERRORS)}")
    r = Reader(errors, skip_empty, stats if stats is not None else ReadStats())
    if hasattr(source, "column_names") and not isinstance(source, (str, Path)):
        from textseq.corpora.hf_datasets import dataset_rows

        return dataset_rows(r, source, "dataset", text_column, label_column, unit)
    s = str(source)
    if s.startswith("hf:"):
        from textseq.corpora.hf_datasets import dataset_source

        return dataset_source(r, s[3:], text_column, label_column, unit)
    from textseq.text.shards import is_shard_input, shard_documents

    if is_shard_input(s):  # a directory or glob of .jsonl / .parquet shards (textseq.text.shards)
        return shard_documents(r, s, text_column, label_column, unit)
    path = Path(s).expanduser()
    if path.exists():
        return _path_source(r, path, s, text_column, label_column, unit)
    corpus = _corpus_source(s)
    if corpus is not None:
        return _corpus_docs(r, corpus, s, text_column, label_column, unit)
    raise InputError(f"input not found: {s} (expected a file, a directory, CORPUS:SPLIT such as shakespeare:train, or hf:NAME:SPLIT)")


# ----------------------------------------------------------------------------- local files


def _path_source(r: Reader, path: Path, shown: str, text_column: str, label_column: str | None, unit: str) -> Iterator[Document]:
    if path.is_dir():
        from textseq.corpora.hf_datasets import dataset_source, is_saved_dataset

        if is_saved_dataset(path):
            return dataset_source(r, str(path), text_column, label_column, unit)
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())  # not empty: see is_shard_input
        return _txt_files(r, files, "line" if unit == "line" else "file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        records_only(unit, shown)
        return _csv_docs(r, path, shown, text_column, label_column, delimiter="\t" if suffix == ".tsv" else ",")
    if suffix in (".jsonl", ".json", ".ndjson"):
        records_only(unit, shown)
        return _jsonl_docs(r, path, shown, shown, text_column, label_column)
    return _txt_files(r, [path], "file" if unit == "file" else "line", ids=[shown])


def records_only(unit: str, shown: str) -> None:
    if unit == "file":
        raise ConfigError(f"{shown}: unit='file' applies to text files; CSV/JSON inputs have one document per record")


def _txt_files(r: Reader, files: list[Path], unit: str, ids: list[str] | None = None) -> Iterator[Document]:
    for path, shown in zip(files, ids or [str(p) for p in files]):
        if unit == "file":
            doc = _whole_file(r, path, shown)
            if doc is not None:
                yield doc
            continue
        for line, offset, raw in _raw_lines(r, path):
            text, bad = r.decode(raw, shown, line, offset)
            if text is not None:
                doc = r.emit(text, f"{shown}:{line}", replaced=bad)
                if doc is not None:
                    yield doc


def _raw_lines(r: Reader, path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset of the line, line bytes without its ending); binary reads have no line length limit."""
    offset = 0
    with open(path, "rb") as f:
        for line, raw in enumerate(f, start=1):
            r.stats.bytes += len(raw)
            start = offset
            offset += len(raw)
            if line == 1 and raw.startswith(BOM):
                raw, start = raw[3:], start + 3
            if raw.endswith(b"\n"):
                raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
            yield line, start, raw


def _whole_file(r: Reader, path: Path, shown: str) -> Document | None:
    data = path.read_bytes()
    r.stats.bytes += len(data)
    skip = 3 if data.startswith(BOM) else 0
    try:
        text, bad = data[skip:].decode("utf-8"), False
    except UnicodeDecodeError as err:
        # Re-decode just the offending line, so the policy and the message match line-by-line reading.
        pos = err.start + skip
        start = data.rfind(b"\n", 0, pos) + 1
        end = data.find(b"\n", pos)
        line_text, bad = r.decode(data[start:len(data) if end < 0 else end], shown, data.count(b"\n", 0, pos) + 1, start)
        if line_text is None:
            return None
        text = data[skip:].decode("utf-8", "replace")
    return r.emit(text, shown, replaced=bad)


# ----------------------------------------------------------------------------- CSV / TSV


def _raise_csv_limit() -> None:
    # The csv module refuses fields over 128 KiB by default; documents can be tens of MB.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _csv_docs(r: Reader, path: Path, shown: str, text_column: str, label_column: str | None, delimiter: str) -> Iterator[Document]:
    _raise_csv_limit()
    bad_lines: list[int] = []  # lines with invalid bytes since the last record

    def lines() -> Iterator[str]:
        for line, offset, raw in _raw_lines(r, path):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                if r.errors == "strict":
                    r.decode(raw, shown, line, offset)  # raises with file, line and offset
                text = raw.decode("utf-8", "replace")
                bad_lines.append(line)
            yield text + "\n"

    # TSV files in the wild rarely quote fields but often contain '"', so quotes are literal there.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(lines(), delimiter=delimiter, quoting=quoting)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{shown}: empty file; expected a header row with a {text_column!r} column") from None
    except csv.Error as err:
        raise InputError(f"{shown}:1: unreadable header: {err}") from None
    text_idx = _column_index(header, text_column, shown)
    label_idx = _column_index(header, label_column, shown) if label_column else None
    prev_end = reader.line_num
    while True:
        bad_lines.clear()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise InputError(f"{shown}:{reader.line_num}: malformed CSV: {err}") from None
        start, prev_end = prev_end + 1, reader.line_num
        if not row:
            continue  # a blank line is not a record
        if len(row) != len(header):  # an extra field would shift the columns after it: never guess
            r.malformed(f"{shown}:{start}: row has {len(row)} fields, the header has {len(header)}"
                        + (f" (an unquoted {delimiter!r} in a field?)" if len(row) > len(header) else ""))
            continue
        if bad_lines and r.errors == "skip":
            r.stats.skipped += 1
            continue
        doc = r.emit(row[text_idx], f"{shown}:{start}", row[label_idx] if label_idx is not None else None, replaced=bool(bad_lines))
        if doc is not None:
            yield doc


def _column_index(header: list[str], column: str | None, shown: str) -> int:
    try:
        return header.index(column)  # type: ignore[arg-type]
    except ValueError:
        raise InputError(f"{shown}: no column {column!r}; columns present: {', '.join(header) or '(none)'}") from None


# ----------------------------------------------------------------------------- JSON lines


def _jsonl_docs(r: Reader, path: Path, shown: str, id_prefix: str, text_column: str, label_column: str | None) -> Iterator[Document]:
    if _first_byte(path) == b"[":
        # A JSON array cannot be streamed line by line; such files are small in practice.
        yield from _json_array(r, path, shown, text_column, label_column)
        return
    for line, offset, raw in _raw_lines(r, path):
        text, bad = r.decode(raw, shown, line, offset)
        if text is None or not text.strip():
            continue  # skipped (counted) or a blank line, which is not a record
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict):
                raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
        except ValueError as err:
            r.malformed(f"{shown}:{line}: malformed JSON line: {err}")
            continue
        doc = _record(r, obj, f"{id_prefix}:{line}", f"{shown}:{line}", text_column, label_column, bad)
        if doc is not None:
            yield doc


def _first_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(BOM).lstrip()
    return head[:1]


def _json_array(r: Reader, path: Path, shown: str, text_column: str, label_column: str | None) -> Iterator[Document]:
    data = path.read_bytes()
    r.stats.bytes += len(data)
    try:
        items = json.loads(data.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{shown}: malformed JSON: {err}") from None
    for i, obj in enumerate(items):
        if not isinstance(obj, dict):
            raise InputError(f"{shown}: item {i} is not a JSON object")
        doc = _record(r, obj, f"{shown}:{i}", f"{shown}: item {i}", text_column, label_column, False)
        if doc is not None:
            yield doc


def _record(r: Reader, obj: dict, doc_id: str, where: str, text_column: str, label_column: str | None, bad: bool) -> Document | None:
    for col in (text_column, label_column):
        if col is not None and col not in obj:
            r.malformed(f"{where}: no column {col!r}; columns present: {', '.join(map(str, obj)) or '(none)'}")
            return None
    text = "" if obj[text_column] is None else obj[text_column]
    label = obj[label_column] if label_column else None
    if not isinstance(text, str):
        r.malformed(f"{where}: column {text_column!r} holds a {type(text).__name__}, expected a string")
        return None
    if isinstance(label, float) and label.is_integer():
        label = int(label)  # 1.0 from a JSON writer that knows only floats is the class 1
    if label is not None and not isinstance(label, (str, int)):  # bool is an int: true/false are labels too
        r.malformed(f"{where}: column {label_column!r} holds the {type(label).__name__} {json.dumps(label)[:40]}, "
                    "expected a string or an integer label")
        return None
    return r.emit(text, doc_id, label, replaced=bad)


# ----------------------------------------------------------------------------- corpora


_CORPUS_SOURCE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*):(?P<split>[A-Za-z0-9_-]+)$")


def _corpus_source(s: str) -> tuple[str, str] | None:
    m = _CORPUS_SOURCE.match(s)
    return (m.group("name"), m.group("split")) if m else None


def _corpus_docs(r: Reader, corpus: tuple[str, str], shown: str, text_column: str, label_column: str | None, unit: str) -> Iterator[Document]:
    from textseq.corpora import CORPORA, corpus_path

    name, split = corpus
    if name not in CORPORA:
        raise InputError(f"input not found: {shown} (not a file; {name!r} is not a corpus; corpora: "
                         f"{', '.join(n for n in CORPORA.names() if CORPORA.get(n).kind == 'corpus')})")
    info = CORPORA.get(name)
    if info.kind != "corpus":
        raise ConfigError(f"{name!r} is a {info.kind}, not a corpus of documents")
    path = corpus_path(name, split)
    if path.suffix == ".jsonl":
        records_only(unit, shown)
        return _jsonl_docs(r, path, str(path), shown, text_column, label_column or info.label_column)
    return _txt_files(r, [path], "file" if unit == "file" else "line", ids=[shown])
