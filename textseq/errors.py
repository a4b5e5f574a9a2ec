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
