"""Hugging Face `datasets` as document sources for textseq.corpora.readers.iter_documents.

    hf:NAME:SPLIT, hf:NAME:CONFIG:SPLIT    datasets.load_dataset (needs the hub, or its local cache)
    DIR, hf:DIR:SPLIT                      a directory written by save_to_disk
    a datasets.Dataset object              its rows

Rows are read in batches of the two columns needed; a ClassLabel column yields label names. The hub
is probed first (a 3-second connection), so a machine without it gets one clear error at once
instead of datasets' minute of retries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

from textseq.corpora.readers import Document, Reader, records_only
from textseq.errors import ConfigError, InputError, ResourceMissingError


def is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or ((path / "dataset_info.json").is_file() and (path / "state.json").is_file())


def dataset_source(r: Reader, spec: str, text_column: str, label_column: str | None, unit: str) -> Iterator[Document]:
    """`NAME`, `NAME:SPLIT` or `NAME:CONFIG:SPLIT`; NAME may be a directory written by save_to_disk."""
    import datasets

    parts = spec.split(":")
    if len(parts) > 3 or not parts[0]:
        raise ConfigError(f"hf:{spec}: expected hf:NAME:SPLIT or hf:NAME:CONFIG:SPLIT")
    name, split = parts[0], (parts[-1] if len(parts) > 1 else None)
    config = parts[1] if len(parts) == 3 else None
    local = Path(name).expanduser()
    if local.is_dir() and is_saved_dataset(local):
        ds = datasets.load_from_disk(str(local))
        if isinstance(ds, datasets.DatasetDict):
            if split is None or split not in ds:
                raise InputError(f"{name}: a dataset with splits {', '.join(ds)}; choose one as hf:{name}:SPLIT")
            ds = ds[split]
        return dataset_rows(r, ds, f"{name}:{split}" if split else name, text_column, label_column, unit)
    if split is None:
        raise ConfigError(f"hf:{spec}: name a split, e.g. hf:{name}:train")
    hint = ("save the dataset with save_to_disk(DIR) where it can be downloaded and pass DIR or hf:DIR:SPLIT, "
            "or give a local .csv/.jsonl/.txt file")
    if not hub_reachable():
        # Fail at once instead of after datasets' minute of retries.
        raise ResourceMissingError(
            f"hf:{spec}: the Hugging Face hub cannot be reached from this machine, and hub datasets need it: {hint} "
            f"(a dataset already in the local Hugging Face cache loads with HF_HUB_OFFLINE=1)"
        )
    try:
        ds = datasets.load_dataset(name, config, split=split)
    except (ConnectionError, OSError, ValueError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as err:
        raise ResourceMissingError(
            f"could not load Hugging Face dataset {name!r} (config {config!r}, split {split!r}): {type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}. Hub datasets need the internet: {hint}"
        ) from None
    return dataset_rows(r, ds, f"{name}:{split}", text_column, label_column, unit)


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when offline mode is on (the local HF cache decides) or the hub's host accepts a connection."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") or \
            os.environ.get("HF_DATASETS_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return True
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def dataset_rows(r: Reader, ds: Any, prefix: str, text_column: str, label_column: str | None, unit: str) -> Iterator[Document]:
    records_only(unit, prefix)
    columns = list(ds.column_names or [])
    for col in (text_column, label_column):
        if col is not None and col not in columns:
            raise InputError(f"{prefix}: no column {col!r}; columns present: {', '.join(columns) or '(none)'}")
    return _dataset_iter(r, ds, prefix, text_column, label_column)


def _dataset_iter(r: Reader, ds: Any, prefix: str, text_column: str, label_column: str | None) -> Iterator[Document]:
    names = None
    feature = (getattr(ds, "features", None) or {}).get(label_column) if label_column else None
    if feature is not None and hasattr(feature, "int2str"):
        names = feature  # ClassLabel: yield label names, not integers
    cols = [c for c in (text_column, label_column) if c]
    rows: Iterable[dict] = _batched_rows(ds, cols) if hasattr(ds, "iter") and hasattr(ds, "num_rows") else iter(ds)
    for i, row in enumerate(rows):
        text = row[text_column]
        text = "" if text is None else str(text)
        r.stats.bytes += len(text.encode("utf-8", "surrogatepass"))
        label = row[label_column] if label_column else None
        if names is not None and isinstance(label, int):
            label = names.int2str(label)
        doc = r.emit(text, f"{prefix}:{i}", label)
        if doc is not None:
            yield doc


def _batched_rows(ds: Any, cols: list[str]) -> Iterator[dict]:
    for batch in ds.select_columns(cols).iter(batch_size=1000):
        for values in zip(*(batch[c] for c in cols)):
            yield dict(zip(cols, values))
