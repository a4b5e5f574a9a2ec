"""The `textseq` command: light start-up, results alone on stdout, -q/-v on every command."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from textseq.cli import build_parser, main

HEAVY = ("torch", "tqdm", "safetensors", "datasets")

# Runs one command in a fresh interpreter and reports which heavy packages it imported.
_PROBE = """
import json, sys
from textseq.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:  # --help exits
    code = exit.code
print(json.dumps({"code": code, "loaded": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


@pytest.fixture
def small_text(tmp_path: Path) -> Path:
    path = tmp_path / "small.txt"
    path.write_text("The cats were running.\nDogs barked!\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("argv, allowed", [
    (["--help"], []),
    (["corpora", "list"], []),
    # --jobs 1 runs spaCy's tokenizer in this process, and spaCy itself imports tqdm.
    (["preprocess", "-i", "{text}", "-o", "{out}", "--jobs", "1"], ["tqdm"]),
    (["preprocess", "-i", "{text}", "-o", "{out}", "--jobs", "2", "--no-progress"], []),
], ids=["help", "corpora-list", "preprocess-here", "preprocess-in-workers"])
def test_light_commands_do_not_import_torch(argv, allowed, small_text, tmp_path):
    argv = [a.format(text=small_text, out=tmp_path / "out.jsonl") for a in argv]
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], cwd=tmp_path, capture_output=True, text=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    assert [m for m in report["loaded"] if m not in allowed] == []


def _subcommand_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subcommand_parsers(sub, (*path, name))


def test_every_command_takes_quiet_and_verbose():
    paths = []
    for path, parser in _subcommand_parsers(build_parser()):
        options = {s for a in parser._actions for s in a.option_strings}
        assert {"-q", "--quiet", "-v", "--verbose"} <= options, path
        paths.append(path)
    assert ("corpora", "list") in paths and ("embed", "neighbors") in paths and ("train-lm",) in paths


@pytest.mark.parametrize("argv, verbosity", [
    (["corpora", "list"], 0),
    (["-q", "corpora", "list"], -1),
    (["corpora", "-q", "list"], -1),
    (["corpora", "list", "-q"], -1),
    (["corpora", "list", "--verbose"], 1),
    (["-v", "corpora", "list"], 1),
])
def test_quiet_and_verbose_are_read_before_or_after_the_command(argv, verbosity):
    from textseq.log import verbosity_of

    assert verbosity_of(build_parser().parse_args(argv)) == verbosity


def test_corpora_list_prints_only_the_listing(capsys):
    assert main(["corpora", "list"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("cache: ") and err == ""
    # The rest are pairs: "NAME KIND STATE" then the indented description, nothing else.
    entries = lines[1:]
    assert entries and len(entries) % 2 == 0
    for head, description in zip(entries[::2], entries[1::2]):
        name, kind = head.split()[:2]
        assert kind in {"corpus", "resource"} and not head.startswith(" ") and description.startswith(" " * 16)
    assert "shakespeare" in {h.split()[0] for h in entries[::2]}


def test_an_error_is_one_line_on_stderr_and_nothing_on_stdout(capsys):
    assert main(["corpora", "path", "no-such-corpus"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("textseq: error: ") and err.count("\n") == 1 and "no-such-corpus" in err


def test_quiet_silences_info_and_verbose_shows_debug(small_text, tmp_path, capsys):
    out_file = tmp_path / "out.jsonl"
    base = ["preprocess", "-i", str(small_text), "-o", str(out_file), "--jobs", "1", "--force"]

    assert main(base) == 0
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("preprocess: 2 documents") and "debug" not in err

    assert main([*base, "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    assert len(out_file.read_text(encoding="utf-8").splitlines()) == 2  # quiet, but the work is done

    assert main(["-v", *base]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "textseq: debug: textseq.text.commands: pipeline: " in err and "preprocess: 2 documents" in err

    assert main([*base, "-q"]) == 0  # the level follows each call; no second handler doubles a line
    assert capsys.readouterr() == ("", "")
    assert main(base) == 0
    assert capsys.readouterr().err.count("preprocess: 2 documents") == 1


def test_summary_results_stay_on_stdout(small_text, tmp_path, capsys):
    assert main(["preprocess", "-i", str(small_text), "-o", str(tmp_path / "o.jsonl"), "--jobs", "1", "--summary"]) == 0
    out, err = capsys.readouterr()
    assert "most frequent: " in out and "preprocess: 2 documents" not in out  # asked-for figures vs the run's report
    assert "preprocess: 2 documents" in err
