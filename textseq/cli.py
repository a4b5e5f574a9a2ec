"""The `textseq` command. Each subcommand lives in its own module exposing `HELP`,
`add_arguments(parser)` and `run(args) -> int`; modules import their heavy dependencies inside
`run`, so `textseq --help`, `corpora list` and `preprocess` start without importing torch.

Messages go to stderr through textseq.log (-q/-v on every command); stdout carries results only."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging

from textseq import __version__
from textseq.errors import TextseqError
from textseq.log import add_verbosity_arguments, setup_logging, verbosity_of

log = logging.getLogger(__name__)

# subcommand -> module; the order is the order of `textseq --help`.
COMMANDS: dict[str, str] = {
    "corpora": "textseq.corpora.commands",
    "configs": "textseq.configs_command",
    "stages": "textseq.text.stages_command",
    "preprocess": "textseq.text.commands",
    "embed": "textseq.embeddings.commands",
    "train-lm": "textseq.lm.commands.train_lm",
    "generate": "textseq.lm.commands.generate",
    "eval-lm": "textseq.lm.commands.eval_lm",
    "grad-probe": "textseq.lm.commands.grad_probe",
    "plot": "textseq.lm.commands.plot",
    "train-classifier": "textseq.classify.commands.train_classifier",
    "predict": "textseq.classify.commands.predict",
    "eval-classifier": "textseq.classify.commands.eval_classifier",
    "ensemble": "textseq.classify.commands.ensemble",
}


def build_parser() -> argparse.ArgumentParser:
    """The `textseq` parser with every subcommand, each (and each of theirs) taking -q/-v."""
    parser = argparse.ArgumentParser(prog="textseq", description="Text preprocessing and recurrent sequence models.")
    parser.add_argument("--version", action="version", version=f"textseq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    add_verbosity_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one `textseq` command; 2 on a TextseqError, 1 on an OS error (one line on stderr each), 130 on Ctrl-C."""
    args = build_parser().parse_args(argv)
    setup_logging(verbosity_of(args))
    try:
        return int(args._run(args) or 0)
    except TextseqError as err:
        log.error("%s", err)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except BrokenPipeError:  # `textseq generate ... | head` closes stdout early
        return 0
    except OSError as err:  # a full disk, a read-only or missing directory, a path too long: one line, no traceback
        log.error("%s", describe_os_error(err))
        return 1


# errno -> what the user can do about it
OS_ERROR_ADVICE = {
    errno.ENOSPC: "free some space or write somewhere else",
    errno.EDQUOT: "free some space or write somewhere else",
    errno.EACCES: "check the permissions, or write somewhere else",
    errno.EPERM: "check the permissions, or write somewhere else",
    errno.EROFS: "the file system is read-only: write somewhere else",
    errno.EISDIR: "give a file name, not a directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.ENAMETOOLONG: "use a shorter name",
    errno.ENOENT: "check the path",
}


def describe_os_error(err: OSError) -> str:
    """'PATH: No space left on device; free some space or write somewhere else'."""
    where = err.filename if err.filename is not None else "(no path)"
    reason = err.strerror or str(err)
    advice = OS_ERROR_ADVICE.get(err.errno or 0)
    return f"{where}: {reason}" + (f"; {advice}" if advice else "")


if __name__ == "__main__":
    raise SystemExit(main())
