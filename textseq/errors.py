"""The errors textseq raises on purpose. Each message names the file, line, key or resource at fault."""

from __future__ import annotations


class TextseqError(Exception):
    """Base class: the CLI prints these as one clear line instead of a traceback."""


class ConfigError(TextseqError, ValueError):
    """A config or stage spec is wrong: unknown key, unknown name, bad value."""


class InputError(TextseqError, ValueError):
    """Input data is unusable: undecodable bytes, a missing column, an empty corpus."""


class ResourceMissingError(TextseqError, LookupError):
    """A model, data package or file that a stage needs is not installed; the message says how to get it."""


def one_line(err: BaseException, limit: int = 400) -> str:
    """An exception's message as one line (torch's load errors span many), cut to `limit` characters."""
    text = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return text if len(text) <= limit else text[:limit - 3] + "..."
