"""Outputs: never over an input, never over an existing file without --force, one line for a bad
path, nothing left behind on an error, never written through a symbolic link; flags said one way."""

from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path

import pytest

from textseq.cli import build_parser, main
from textseq.errors import InputError
from textseq.fileio import atomic_open, atomic_write_text, check_output_dir, check_output_path, same_file

CORPUS = b"The cats were running.\nDogs barked!\n"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_bytes(CORPUS)
    return path


def one_error_line(capsys) -> str:
    """The one line a failed command printed on stderr (and that nothing went to stdout)."""
    out, err = capsys.readouterr()
    assert out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ------------------------------------------------------------------ outputs never alias inputs

@pytest.mark.parametrize("alias", ["same", "symlink", "hardlink", "dotted"])
def test_preprocess_refuses_to_write_over_its_input(tmp_path, corpus, capsys, alias):
    target = {"same": corpus, "dotted": tmp_path / "." / "corpus.txt", "symlink": tmp_path / "link.txt",
              "hardlink": tmp_path / "hard.txt"}[alias]
    if alias == "symlink":
        target.symlink_to(corpus)
    if alias == "hardlink":
        os.link(corpus, target)
    # --force says "overwrite the output", never "destroy the input"
    assert main(["preprocess", "-i", str(corpus), "-o", str(target), "--jobs", "1", "--force"]) == 2
    line = one_error_line(capsys)
    assert "is the input" in line and str(corpus) in line
    assert corpus.read_bytes() == CORPUS
    assert not list(tmp_path.glob("*.pipeline.yaml")) and not list(tmp_path.glob(".*"))


def test_embed_convert_refuses_to_write_over_its_input(tmp_path, capsys):
    vectors = tmp_path / "v.txt"
    vectors.write_text("king 0.1 0.2\nqueen 0.3 0.4\n", encoding="utf-8")
    before = vectors.read_bytes()
    (tmp_path / "link.txt").symlink_to(vectors)
    for out in (vectors, tmp_path / "link.txt"):
        assert main(["embed", "convert", str(vectors), str(out), "--format", "glove", "--force"]) == 2
        assert "is the input" in one_error_line(capsys)
    assert vectors.read_bytes() == before
    assert main(["embed", "convert", str(vectors), str(tmp_path / "w.txt"), "--format", "word2vec"]) == 0
    assert (tmp_path / "w.txt").read_text(encoding="utf-8").splitlines()[0] == "2 2"
    assert listing(tmp_path) == ["link.txt", "v.txt", "w.txt"]


def test_same_file_sees_links_and_spellings(tmp_path, corpus):
    (tmp_path / "hard").hardlink_to(corpus)
    (tmp_path / "soft").symlink_to(corpus)
    assert same_file(corpus, tmp_path / "hard") and same_file(corpus, tmp_path / "soft")
    assert same_file(corpus, tmp_path / "sub" / ".." / "corpus.txt")
    assert not same_file(corpus, tmp_path / "other.txt")


# ------------------------------------------------------------------ --force, existing dirs, missing parents

def test_preprocess_output_exists_needs_force(tmp_path, corpus, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n", encoding="utf-8")
    assert main(["preprocess", "-i", str(corpus), "-o", str(out), "--jobs", "1"]) == 2
    line = one_error_line(capsys)
    assert str(out) in line and "--force" in line
    assert out.read_text(encoding="utf-8") == "precious\n"
    assert main(["preprocess", "-i", str(corpus), "-o", str(out), "--jobs", "1", "--force", "-q"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    assert (tmp_path / "out.jsonl.pipeline.yaml").is_file()
    # the spec beside the output is an output too
    assert main(["preprocess", "-i", str(corpus), "-o", str(out), "--jobs", "1"]) == 2
    assert "--force" in one_error_line(capsys)


@pytest.mark.parametrize("argv, expected", [
    (["preprocess", "-i", "{corpus}", "-o", "{tmp}"], "is a directory"),
    (["preprocess", "-i", "{corpus}", "-o", "{tmp}/no/such/out.jsonl"], "does not exist"),
    (["grad-probe", "--cell", "rnn", "-o", "{tmp}"], "is a directory"),
    (["grad-probe", "--cell", "rnn", "-o", "{tmp}/missing/g.png"], "does not exist"),
    (["embed", "convert", "{tmp}/v.txt", "{tmp}", "--format", "glove"], "is a directory"),
    (["embed", "convert", "{tmp}/v.txt", "{tmp}/nope/w.txt", "--format", "glove"], "does not exist"),
    (["embed", "convert", "{tmp}/v.txt", "{tmp}/corpus.txt", "--format", "textseq"], "is a file"),
    (["embed", "train", "-c", "glove", "--output", "{tmp}"], "not empty"),
    (["plot", "{tmp}", "-o", "{tmp}"], "not empty"),
])
def test_bad_output_paths_get_one_line(tmp_path, corpus, capsys, argv, expected):
    (tmp_path / "v.txt").write_text("king 0.1 0.2\n", encoding="utf-8")
    before = listing(tmp_path)
    argv = [a.format(corpus=corpus, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert expected in line and str(tmp_path) in line
    assert listing(tmp_path) == before


def test_check_output_helpers(tmp_path):
    (tmp_path / "f").write_text("x")
    assert check_output_path(tmp_path / "new.txt") == tmp_path / "new.txt"
    assert check_output_path(tmp_path / "f", force=True) == tmp_path / "f"
    with pytest.raises(InputError, match="already exists; give --force"):
        check_output_path(tmp_path / "f")
    assert check_output_dir(tmp_path / "fresh") == tmp_path / "fresh"
    (tmp_path / "empty").mkdir()
    check_output_dir(tmp_path / "empty")
    with pytest.raises(InputError, match="not empty; give --force"):
        check_output_dir(tmp_path)
    check_output_dir(tmp_path, force=True)


# ------------------------------------------------------------------ atomic writes: no temp files, no links followed

def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_leaves_no_temporary_file(tmp_path, corpus, capsys, monkeypatch):
    out = tmp_path / "out.jsonl"
    monkeypatch.setattr(os, "replace", enospc)
    assert main(["preprocess", "-i", str(corpus), "-o", str(out), "--jobs", "1"]) == 2
    line = one_error_line(capsys)
    assert str(out) in line and "No space left on device" in line
    assert listing(tmp_path) == ["corpus.txt"]


def test_atomic_writers_clean_up_and_replace_links(tmp_path, monkeypatch):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n", encoding="utf-8")
    inside = tmp_path / "run"
    inside.mkdir()
    (inside / "report.json").symlink_to(outside)
    atomic_write_text(inside / "report.json", "{}\n")
    assert outside.read_text(encoding="utf-8") == "keep me\n"
    assert not (inside / "report.json").is_symlink() and (inside / "report.json").read_text() == "{}\n"

    with pytest.raises(RuntimeError):
        with atomic_open(inside / "a.txt") as fh:
            fh.write("half")
            raise RuntimeError("the writer failed")
    monkeypatch.setattr(os, "replace", enospc)
    with pytest.raises(InputError, match="b.txt: No space left on device"):
        atomic_write_text(inside / "b.txt", "data")
    assert listing(inside) == ["report.json"]


# ------------------------------------------------------------------ corpora path CORPUS:SPLIT

def test_corpora_path_takes_the_config_spelling(capsys):
    from textseq.corpora import is_fetched

    if not is_fetched("imdb"):
        pytest.skip("imdb is not fetched")
    assert main(["corpora", "path", "imdb", "test"]) == 0
    spaced = capsys.readouterr().out
    assert main(["corpora", "path", "imdb:test"]) == 0
    assert capsys.readouterr().out == spaced and spaced.strip().endswith("test.jsonl")
    assert main(["corpora", "path", "imdb:test", "train"]) == 2
    assert "give the split once" in one_error_line(capsys)


# ------------------------------------------------------------------ flags said one way

def subparsers(parser: argparse.ArgumentParser, name: str = "textseq"):
    """(command name, parser) for every parser under `parser`, nested actions included."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from subparsers(sub, f"{name} {sub_name}")


ALL_PARSERS = list(subparsers(build_parser()))


@pytest.mark.parametrize("name, parser", ALL_PARSERS, ids=[n for n, _ in ALL_PARSERS])
def test_every_default_is_in_help(name, parser):
    skip = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)
    missing = [a.option_strings or a.dest for a in parser._actions
               if not isinstance(a, skip) and a.default not in (None, False, [], argparse.SUPPRESS)
               and "default" not in (a.help or "")]
    assert not missing, f"{name}: options whose default --help does not show: {missing}"


@pytest.mark.parametrize("name, parser", ALL_PARSERS, ids=[n for n, _ in ALL_PARSERS])
def test_input_output_and_columns_are_spelled_one_way(name, parser):
    for action in parser._actions:
        flags = set(action.option_strings)
        if flags & {"-i", "-o"}:
            short = "-i" if "-i" in flags else "-o"
            assert {"-i": "--input", "-o": "--output"}[short] in flags, (name, flags)
        if any("column" in f for f in flags):
            assert flags <= {"--text-column", "--label-column"}, (name, flags)


def test_embed_train_output_keeps_out_as_an_alias():
    parser = build_parser()
    for flag in ("-o", "--output", "--out"):
        assert parser.parse_args(["embed", "train", "-c", "glove", flag, "d"]).output == "d"


@pytest.mark.parametrize("argv", [
    ["preprocess", "-i", "x", "-o", "y", "--limit", "-1"],
    ["preprocess", "-i", "x", "-o", "y", "--limit", "0"],
    ["preprocess", "-i", "x", "-o", "y", "--jobs", "0"],
    ["preprocess", "-i", "x", "-o", "y", "--batch-size", "two"],
    ["embed", "neighbors", "v", "king", "--topn", "0"],
    ["embed", "eval", "v", "--max-words", "-5"],
    ["embed", "eval", "v", "--restrict-vocab", "0"],
    ["grad-probe", "--cell", "rnn", "-o", "g.png", "--length", "1"],
    ["grad-probe", "--cell", "rnn", "-o", "g.png", "--batch-size", "0"],
    ["grad-probe", "--cell", "rnn", "-o", "g.png", "--hidden-size", "nan"],
    ["grad-probe", "--cell", "rnn", "-o", "g.png", "--seed", "-1"],
    ["predict", "run", "x", "--batch-size", "0"],
    ["generate", "run", "--length", "-3"],
])
def test_bad_numbers_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "Traceback" not in err and "argument --" in err
