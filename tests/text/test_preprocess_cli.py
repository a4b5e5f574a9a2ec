"""`textseq preprocess`: records, summary, error policies, processes, failing stages."""

from __future__ import annotations

import json

import pytest

from textseq.cli import main
from textseq.text.base import TextStage, register_stage
from textseq.text.pipeline import Pipeline


def read_jsonl(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_text_file_one_record_per_line(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("The cats were running.\n\nDogs barked at https://x.org\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["preprocess", "-i", str(src), "-o", str(out), "--jobs", "1", "--offsets"]) == 0
    recs = read_jsonl(out)
    # stop words and punctuation dropped, lemmas, URL placeholder
    assert [r["tokens"] for r in recs] == [["cat", "run"], [], ["dog", "bark", "<url>"]]
    assert recs[0]["id"].endswith("in.txt:1") and recs[2]["offsets"][0] == [0, 4]
    stdout, stderr = capsys.readouterr()
    assert stdout == ""  # the records go to the file; the summary is a message, on stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("preprocess: 3 documents, ") and "0 skipped (1 empty" in line
    # The pipeline spec travels with its output, and reproduces it.
    assert Pipeline.load(str(out) + ".pipeline.yaml") == Pipeline.default()


def test_invalid_utf8_policies(tmp_path, capsys):
    src = tmp_path / "bad.txt"
    src.write_bytes(b"good line\nalso fine\nbad \xff\xfe byte\nlast\n")
    out = tmp_path / "o.jsonl"
    assert main(["preprocess", "-i", str(src), "-o", str(out), "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert "bad.txt" in err and "line 3" in err
    assert not out.exists()  # nothing half-written is left looking complete

    assert main(["preprocess", "-i", str(src), "-o", str(out), "--jobs", "1", "--errors", "replace"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "o.jsonl", "o.jsonl.pipeline.yaml"]
    assert len(read_jsonl(out)) == 4
    assert "1 with replaced bytes" in capsys.readouterr().err

    assert main(["preprocess", "-i", str(src), "-o", str(out), "--jobs", "1", "--errors", "skip", "--force"]) == 0
    assert len(read_jsonl(out)) == 3
    assert "3 documents" in capsys.readouterr().err.splitlines()[-1]


def test_csv_with_labels_and_missing_column(tmp_path, capsys):
    src = tmp_path / "r.csv"
    src.write_text('review,sentiment\n"Great, not boring!",pos\n"Awful film",neg\n', encoding="utf-8")
    out = tmp_path / "o.jsonl"
    cfg = "configs/preprocess/sentiment.yaml"
    assert main(["preprocess", "-c", cfg, "-i", str(src), "-o", str(out), "--text-column", "review",
                 "--label-column", "sentiment", "--jobs", "1"]) == 0
    recs = read_jsonl(out)
    assert [r["label"] for r in recs] == ["pos", "neg"]
    assert "not" in recs[0]["tokens"]
    assert main(["preprocess", "-i", str(src), "-o", str(out), "--jobs", "1", "--force"]) == 2
    err = capsys.readouterr().err
    assert "r.csv" in err and "'text'" in err and "review" in err


def test_two_processes_give_identical_output(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("".join(f"Line {i}: the films weren't great, were they?\n" for i in range(700)), encoding="utf-8")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(["preprocess", "-i", str(src), "-o", str(a), "--jobs", "1", "--batch-size", "64"]) == 0
    assert main(["preprocess", "-i", str(src), "-o", str(b), "--jobs", "2", "--batch-size", "64"]) == 0
    assert a.read_bytes() == b.read_bytes()


@register_stage("_test_explodes_on_boom")
class _Explodes(TextStage):
    """A stage that fails on one kind of document, to test how failures are reported."""

    def process(self, text: str) -> str:
        if "BOOM" in text:
            raise RuntimeError("kaboom")
        return text

    def aligned(self, text, starts, ends):
        return self.process(text), starts, ends


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_failing_stage_named_or_skipped_and_counted(tmp_path, capsys, jobs):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("stages:\n  - stage: _test_explodes_on_boom\n  - stage: regex_words\n", encoding="utf-8")
    src = tmp_path / "in.txt"
    src.write_text("one\ntwo BOOM\nthree\n" * 3, encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert main(["preprocess", "-c", str(cfg), "-i", str(src), "-o", str(out), "--jobs", jobs,
                 "--batch-size", "2"]) == 2
    err = capsys.readouterr().err
    assert "in.txt:2" in err and "kaboom" in err
    assert main(["preprocess", "-c", str(cfg), "-i", str(src), "-o", str(out), "--jobs", jobs,
                 "--batch-size", "2", "--errors", "skip"]) == 0
    recs = read_jsonl(out)
    assert [r["tokens"] for r in recs] == [["one"], ["three"]] * 3
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert "6 documents" in summary and "3 skipped" in summary


def test_summary_counts_skipped_stage_failures(tmp_path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("stages:\n  - stage: _test_explodes_on_boom\n  - stage: regex_words\n", encoding="utf-8")
    src = tmp_path / "in.txt"
    src.write_text("a\nBOOM\nb\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert main(["preprocess", "-c", str(cfg), "-i", str(src), "-o", str(out), "--jobs", "1",
                 "--errors", "skip"]) == 0
    assert "2 documents, 2 tokens, 1 skipped" in capsys.readouterr().err


def test_bad_config_is_one_clear_line(tmp_path, capsys):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("stages:\n  - stage: case\n    mood: lower\n", encoding="utf-8")
    src = tmp_path / "in.txt"
    src.write_text("x\n", encoding="utf-8")
    assert main(["preprocess", "-c", str(cfg), "-i", str(src), "-o", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("textseq: error:") and "p.yaml" in err and "mood" in err and "valid keys here: mode" in err
