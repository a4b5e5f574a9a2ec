"""textseq.log: one handler on the current stderr, levels from -q/-v, and the library default."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from textseq.log import ROOT, progress_enabled, script_logging, setup_logging


@pytest.fixture(autouse=True)
def _restore_textseq_logger():
    logger = logging.getLogger(ROOT)
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:], logger.level = handlers, level


def test_setup_is_idempotent_and_sets_the_level():
    logger = setup_logging(0)
    setup_logging(0)
    assert len(logger.handlers) == 1 and logger.level == logging.INFO
    assert setup_logging(-3).level == logging.WARNING and setup_logging(2).level == logging.DEBUG
    assert len(logger.handlers) == 1


def test_format_and_the_stream_at_emit_time(capsys):
    setup_logging(1)
    log = logging.getLogger("textseq.some.module")
    log.info("plain %s", "info")
    log.warning("watch out")
    log.error("broken")
    log.debug("details")
    out, err = capsys.readouterr()  # capsys swapped sys.stderr after the handler was made: it still lands here
    assert out == ""
    assert err.splitlines() == ["plain info", "textseq: warning: watch out", "textseq: error: broken",
                                "textseq: debug: textseq.some.module: details"]


def test_quiet_drops_info_but_keeps_warnings(capsys):
    setup_logging(-1)
    logging.getLogger("textseq.x").info("chatter")
    logging.getLogger("textseq.x").warning("matters")
    assert capsys.readouterr().err == "textseq: warning: matters\n"


def test_a_library_user_sees_warnings_but_not_info():
    code = ("import logging; log = logging.getLogger('textseq.corpora'); "
            "log.info('chatter'); log.warning('a warning')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "" and done.stderr == "a warning\n"


def test_script_logging_takes_its_options_out_of_argv():
    assert script_logging(["-q", "runs/x", "2"]) == ["runs/x", "2"]
    assert logging.getLogger(ROOT).level == logging.WARNING
    assert script_logging(["runs/x"]) == ["runs/x"] and logging.getLogger(ROOT).level == logging.INFO


def test_progress_bars_follow_the_request_then_the_terminal_and_level():
    assert progress_enabled(True) and not progress_enabled(False)
    setup_logging(0)
    assert progress_enabled(None) == sys.stderr.isatty()
    setup_logging(-1)
    assert progress_enabled(None) is False
