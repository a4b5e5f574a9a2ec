"""An OS error in any command is one line naming the path and what to do, exit 1, no traceback."""

from __future__ import annotations

import errno
import os

import pytest

from textseq import cli


@pytest.mark.parametrize("code, advice", [
    (errno.ENOSPC, "free some space"), (errno.EACCES, "check the permissions"), (errno.EROFS, "read-only"),
    (errno.EISDIR, "not a directory"), (errno.ENAMETOOLONG, "shorter name"),
])
def test_os_errors_are_one_line_with_the_path_and_advice(monkeypatch, capsys, code, advice):
    def fail(args):
        raise OSError(code, os.strerror(code), "/data/out.jsonl")

    monkeypatch.setattr("textseq.corpora.commands.run", fail)
    monkeypatch.setattr(cli, "build_parser", _parser_with("corpora", fail))
    assert cli.main(["corpora", "list"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("textseq: error: /data/out.jsonl: ") and advice in lines[0]
    assert captured.out == ""


def _parser_with(name, run):
    real = cli.build_parser

    def build():
        parser = real()
        parser.set_defaults(_run=run)
        for action in parser._subparsers._group_actions:  # the subcommand parsers carry their own default
            action.choices[name].set_defaults(_run=run)
        return parser

    return build


def test_a_real_read_only_directory(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    (tmp_path / "in.txt").write_text("one line\n", encoding="utf-8")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert cli.main(["preprocess", "-i", str(tmp_path / "in.txt"), "-o", str(locked / "out.jsonl"), "--jobs", "1"]) == 1
    finally:
        locked.chmod(0o700)
    assert "Permission denied" in capsys.readouterr().err and not list(locked.iterdir())
