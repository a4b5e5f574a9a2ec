"""`textseq stages [NAME]`: every registered stage with its options and one-line doc, without torch."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest
import yaml

from textseq.cli import main
from textseq.text.base import STAGES, _ensure_builtin_stages, stage_from_spec
from textseq.text.pipeline import Pipeline
from tests.test_cli import _PROBE

_ensure_builtin_stages()
NAMES = STAGES.names()  # the built-in stages (other tests may register more later)


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_has_a_one_line_summary(name):
    doc = inspect.cleandoc(STAGES.get(name).__dict__.get("__doc__") or "")
    lines = doc.splitlines()
    assert lines and lines[0].endswith("."), f"{name}: the docstring must start with a one-line sentence"
    assert len(lines) == 1 or lines[1] == "", f"{name}: the summary line must stand alone (a blank line after it)"


def test_the_listing_shows_each_stage_its_summary_and_options(capsys):
    assert main(["stages"]) == 0
    out = capsys.readouterr().out
    blocks = {block.split()[0]: block for block in out.strip().split("\n\n")}
    assert sorted(blocks) == STAGES.names()  # the built-in ones and any a test registered
    for name in NAMES:
        cls = STAGES.get(name)
        head, *options = blocks[name].splitlines()
        summary = inspect.cleandoc(cls.__doc__).splitlines()[0]
        assert head == f"{name}  ({cls.consumes} -> {cls.produces})  {summary}"
        assert [o.split(":")[0].strip() for o in options] == (list(cls.model_fields) or ["(no options)"])
    assert "    mode: remove | space = remove" in blocks["punctuation"].splitlines()
    assert "    keep_whole: list of str = [<url>, <email>, <user>, <hashtag>, <date>, <num>]" in blocks["spacy_words"]
    assert "    model: str (required)" in blocks["sentencepiece"].splitlines()
    assert "    train_on: str | null = null" in blocks["punkt_sentences"].splitlines()


def test_one_stage_in_full_with_a_pipeline_line_that_works(capsys):
    assert main(["stages", "strip_accents"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("strip_accents: text -> text\n\nRemove accents:")
    assert "marks=\"all\" strips every nonspacing" in out  # the whole docstring, not its first line
    assert "  marks: diacritics | all = diacritics" in out.splitlines()
    spec = yaml.safe_load(out[out.index("in a pipeline:") + len("in a pipeline:"):])
    assert spec == {"stages": [{"stage": "strip_accents", "marks": "diacritics"}]}
    assert Pipeline.from_spec(spec)("Café naïve") == "Cafe naive"


@pytest.mark.parametrize("name", [n for n in NAMES if not any(f.is_required() for f in STAGES.get(n).model_fields.values())])
def test_every_pipeline_line_shown_builds_that_stage(name, capsys):
    assert main(["stages", name]) == 0
    out = capsys.readouterr().out
    spec = yaml.safe_load(out[out.index("in a pipeline:") + len("in a pipeline:"):])
    assert [entry["stage"] for entry in spec["stages"]] == [name]
    assert stage_from_spec(spec["stages"][0]) == STAGES.get(name)()  # every default spelled out: the default stage


def test_an_unknown_stage_is_one_line_naming_the_valid_ones(capsys):
    assert main(["stages", "punctation"]) == 2
    err = capsys.readouterr().err
    assert err.strip().startswith("textseq: error: unknown stage 'punctation' (did you mean 'punctuation'?); valid: ")
    assert "\n" not in err.strip() and "case, characters, contractions" in err


@pytest.mark.parametrize("argv", [["stages"], ["stages", "lemmatize"]])
def test_stages_does_not_import_torch(argv, tmp_path):
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], cwd=tmp_path, capture_output=True, text=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    assert report["loaded"] == []
