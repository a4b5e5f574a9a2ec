"""Sharded input and output of `preprocess`: a directory or glob of JSONL/Parquet shards reads as one
input in name order, and a directory output holds the records of a single-file output, in order."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from textseq.cli import main
from textseq.errors import InputError
from textseq.text.files import preprocess_to_jsonl
from textseq.text.pipeline import Pipeline
from textseq.text.shards import iter_records

TEXTS = [f"The {w} cats were running past {i} dogs" for i, w in enumerate(["big", "small", "odd", "", "grey"] * 5)]
FAST = Pipeline.from_spec({"stages": [{"stage": "case"}, {"stage": "whitespace"}]})


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def _write_jsonl_shards(folder: Path, rows: list[dict], per_shard: int) -> None:
    folder.mkdir()
    for k in range(0, len(rows), per_shard):  # part-10 after part-9: name order is what counts, zero-padded
        with open(folder / f"part-{k // per_shard:03d}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows[k:k + per_shard])


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_directory_output_holds_the_single_file_records_in_order(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t, "label": i % 2}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    one = preprocess_to_jsonl(FAST, src, tmp_path / "one.jsonl", label_column="label", progress=False, n_proc=1)
    out = tmp_path / "out"
    many = preprocess_to_jsonl(FAST, src, f"{out}/", label_column="label", progress=False, n_proc=1, fmt=fmt,
                               shard_size=7, batch_size=4)
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"part-{k:05d}.{fmt}" for k in range(4)]  # 25 records: 7 + 7 + 7 + 4
    assert list(iter_records(f"{out}/")) == _lines(tmp_path / "one.jsonl")
    assert (many.documents, many.tokens) == (one.documents, one.tokens) == (25, one.tokens)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_jsonl_and_parquet_shards_read_as_one_input_in_name_order(tmp_path: Path) -> None:
    rows = [{"text": t, "label": i % 3} for i, t in enumerate(TEXTS)]
    single = tmp_path / "all.jsonl"
    single.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _write_jsonl_shards(tmp_path / "shards", rows, 4)
    for k in range(0, len(rows), 10):
        pq.write_table(pa.Table.from_pylist(rows[k:k + 10]), tmp_path / f"rows-{k // 10}.parquet")
    outs = {}
    for name, source in (("single", single), ("dir", tmp_path / "shards"), ("glob", str(tmp_path / "rows-*.parquet"))):
        preprocess_to_jsonl(FAST, source, tmp_path / f"{name}.jsonl", label_column="label", progress=False, n_proc=1)
        outs[name] = [(r["text"], r["label"]) for r in _lines(tmp_path / f"{name}.jsonl")]
    assert outs["dir"] == outs["single"] == outs["glob"] and len(outs["single"]) == 25
    first = _lines(tmp_path / "dir.jsonl")[5]["id"]
    assert first == f"{tmp_path / 'shards' / 'part-001.jsonl'}:2"  # the shard and line it came from


def test_bad_shards_meet_the_errors_policy(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    _write_jsonl_shards(folder, [{"text": "good one"}, {"text": "another"}], 1)
    with open(folder / "part-001.jsonl", "ab") as fh:
        fh.write(b"not json\n" + json.dumps({"text": 3}).encode() + b"\n")
    with pytest.raises(InputError, match=r"part-001\.jsonl:2: malformed JSON line"):
        preprocess_to_jsonl(FAST, folder, tmp_path / "strict.jsonl", progress=False, n_proc=1)
    s = preprocess_to_jsonl(FAST, folder, tmp_path / "skip.jsonl", progress=False, n_proc=1, errors="skip")
    assert (s.documents, s.skipped, s.malformed) == (2, 2, 2)
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.jsonl").write_text("{}\n")
    pq.write_table(pa.table({"text": ["x"]}), tmp_path / "mixed" / "b.parquet")
    with pytest.raises(InputError, match="mixes .jsonl and .parquet shards"):
        preprocess_to_jsonl(FAST, tmp_path / "mixed", tmp_path / "m.jsonl", progress=False, n_proc=1)


def test_directory_output_checks_come_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "in.txt"
    src.write_text("one line\ntwo lines\n", encoding="utf-8")
    base = ["preprocess", "-i", str(src), "--no-progress", "-q"]
    assert main([*base, "-o", str(tmp_path / "x.jsonl"), "--format", "parquet"]) != 0
    assert main([*base, "-o", f"{tmp_path}/out/", "--format", "parquet"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["part-00000.parquet", "pipeline.yaml"]
    assert main([*base, "-o", f"{tmp_path}/out/"]) != 0  # not empty, no --force
    assert main([*base, "-o", f"{tmp_path}/out/", "--force"]) == 0  # a shard directory is replaced whole
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["part-00000.jsonl", "pipeline.yaml"]
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.md").write_text("mine")
    assert main([*base, "-o", f"{tmp_path}/keep/", "--force"]) != 0 and (tmp_path / "keep" / "notes.md").exists()
    assert main(["preprocess", "-i", f"{tmp_path}/out/*.jsonl", "-o", f"{tmp_path}/out/", "--force", "-q"]) != 0
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 4 and "end -o with a slash" in err[0] and "not empty" in err[1]
    assert "holds other files (notes.md)" in err[2] and "is, or is inside, an input" in err[3]
