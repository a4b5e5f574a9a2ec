"""One voice: every textseq message goes through the `textseq` logger to stderr; stdout carries results only.

Modules log with `log = logging.getLogger(__name__)`, so they all sit under the `textseq` logger.
Nothing is configured at import. A library user who never calls `setup_logging` gets Python's
default: warnings and errors on stderr, info chatter dropped. The `textseq` command and the
scripts in pipelines/ call `setup_logging`, which installs one handler on `textseq`:

    preparing the data ...                 INFO: the message alone, as a print would show it
    textseq: warning: skipping a ...       WARNING and above: prefixed, so they stand out in a pipe
    textseq: error: corpus 'x' not found
    textseq: debug: textseq.train.trainer: ...   DEBUG (-v): also names the module

The handler writes to whatever `sys.stderr` is when a record is emitted (not the stream present when
it was installed), so pytest's capsys/capfd and any later redirection see the messages.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, TextIO

ROOT = "textseq"
LEVELS = {-1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}  # verbosity -> level, clamped to this range


class _StderrHandler(logging.StreamHandler):
    """A StreamHandler bound to the current `sys.stderr`, looked up at every record."""

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # StreamHandler.__init__ assigns sys.stderr once; the property keeps following it instead


class _Formatter(logging.Formatter):
    """Plain text for INFO; `textseq: LEVEL: ` before anything else (and the module name at DEBUG)."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno == logging.INFO:
            return message
        if record.levelno < logging.INFO:
            return f"{ROOT}: debug: {record.name}: {message}"
        return f"{ROOT}: {record.levelname.lower()}: {message}"


def setup_logging(verbosity: int = 0) -> logging.Logger:
    """Send `textseq.*` messages to stderr at INFO (verbosity 0), WARNING (< 0) or DEBUG (> 0).

    Safe to call again: the one handler is reused and only the level changes."""
    logger = logging.getLogger(ROOT)
    logger.setLevel(LEVELS[max(-1, min(1, verbosity))])
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_Formatter())
        logger.addHandler(handler)
    return logger


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to draw a progress bar: `progress` when given; by default only on a terminal, and not
    under -q or in a library whose caller has not turned textseq's INFO messages on."""
    if progress is not None:
        return progress
    return sys.stderr.isatty() and logging.getLogger(ROOT).isEnabledFor(logging.INFO)


def add_verbosity_arguments(parser: argparse.ArgumentParser) -> None:
    """Add -q/--quiet and -v/--verbose to `parser` and, recursively, to every subcommand parser under it.

    The defaults are suppressed so that a subcommand parser, which argparse fills into the same
    namespace, never resets a -q given before the subcommand name (`textseq -q corpora list`)."""
    group = parser.add_argument_group("messages")
    group.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS,
                       help="only warnings and errors on stderr")
    group.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                       help="also debug messages on stderr")
    for action in parser._actions:  # argparse keeps subcommand parsers only in this private list
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                add_verbosity_arguments(sub)


def verbosity_of(args: argparse.Namespace) -> int:
    """-v counts up and -q counts down; neither given is 0 (INFO)."""
    return getattr(args, "verbose", 0) - getattr(args, "quiet", 0)


def script_logging(argv: list[str] | None = None) -> list[str]:
    """For scripts without a parser of their own: take -q/-v out of `argv` (default sys.argv[1:]),
    set up logging accordingly, and return the remaining arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(add_help=False)
    add_verbosity_arguments(parser)
    args, rest = parser.parse_known_args(argv)
    setup_logging(verbosity_of(args))
    return rest
