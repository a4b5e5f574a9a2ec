"""Rows that do not fit their file (extra or missing fields, missing columns, wrong types) are errors
naming file and line under errors="strict", and skipped, counted and reported under "skip"."""

from __future__ import annotations

import json
import logging

import pytest

from textseq.corpora.readers import ReadStats, iter_documents
from textseq.errors import InputError


def _read(path, errors="strict", label_column="label"):
    stats = ReadStats()
    docs = list(iter_documents(str(path), label_column=label_column, errors=errors, stats=stats))
    return docs, stats


def test_a_csv_row_with_an_extra_field_is_never_read_with_shifted_columns(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\ngood film,pos\nslow, dull film,neg\nawful,neg\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"reviews.csv:3: row has 3 fields, the header has 2 \(an unquoted ','"):
        _read(path)
    docs, stats = _read(path, "skip")
    assert [(d.text, d.label) for d in docs] == [("good film", "pos"), ("awful", "neg")]
    assert (stats.skipped, stats.malformed) == (1, 1) and "1 skipped (1 malformed)" in stats.summary()


def test_a_csv_row_with_a_missing_field(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("text,label\ngood,pos\nno label here\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r.csv:3: row has 1 fields, the header has 2$"):
        _read(path)
    assert [d.text for d in _read(path, "skip")[0]] == ["good"]


@pytest.mark.parametrize("record, message", [
    ({"text": "fine"}, "no column 'label'"),
    ({"text": ["a", "list"], "label": "pos"}, "column 'text' holds a list, expected a string"),
    ({"text": "fine", "label": {"stars": 5}}, "column 'label' holds the dict"),
    ({"text": "fine", "label": 0.5}, "column 'label' holds the float 0.5"),
])
def test_jsonl_records_of_the_wrong_shape(tmp_path, record, message):
    path = tmp_path / "r.jsonl"
    rows = [{"text": "good", "label": "pos"}, record, {"text": "bad", "label": 1.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(InputError, match=rf"r.jsonl:2: {message}"):
        _read(path)
    docs, stats = _read(path, "skip")
    assert [(d.text, d.label) for d in docs] == [("good", "pos"), ("bad", "1")]  # 1.0 is the class 1
    assert stats.malformed == 1


def test_skipped_rows_are_reported_once(tmp_path, caplog):
    path = tmp_path / "r.csv"
    path.write_text("text,label\ngood,pos\nslow, dull,neg\n", encoding="utf-8")
    _, stats = _read(path, "skip")
    with caplog.at_level(logging.WARNING, logger="textseq"):
        stats.warn_skipped(str(path))
    assert [r.getMessage() for r in caplog.records] == [f"{path}: 1 document(s) skipped (1 malformed rows, 0 undecodable or empty)"]


def test_training_and_prediction_report_what_they_skipped(tmp_path, capsys):
    import subprocess
    import sys

    from tests.classify.conftest import tiny_config

    config = tiny_config(tmp_path, train={"max_steps": 2, "eval_every": 2})
    with open(tmp_path / "train.csv", "a", encoding="utf-8") as f:
        f.write("a review, with a comma,pos\n")
    done = subprocess.run([sys.executable, "-m", "textseq", "train-classifier", "-c", str(config), "-o", str(tmp_path / "run"),
                           "--set", "data.errors=skip", "--no-progress"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "train.csv: 1 document(s) skipped (1 malformed rows" in done.stderr
    done = subprocess.run([sys.executable, "-m", "textseq", "train-classifier", "-c", str(config), "-o", str(tmp_path / "run2"),
                           "--no-progress"], capture_output=True, text=True)
    assert done.returncode == 2 and "row has 3 fields, the header has 2" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "textseq", "predict", str(tmp_path / "run"), "-i", str(tmp_path / "train.csv"),
                           "--errors", "skip"], capture_output=True, text=True)
    assert done.returncode == 0 and "1 document(s) skipped (1 malformed rows" in done.stderr
    assert len(done.stdout.splitlines()) == 48
