"""Cached loaders for heavy shared resources. Nothing here downloads, and nothing runs at import:
each loader runs once per process on first use and says clearly what is missing and how to get it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from textseq.errors import ResourceMissingError


@lru_cache(maxsize=None)
def spacy_blank(lang: str = "en") -> Any:
    """A blank spaCy pipeline (tokenizer only) for `lang`; needs no model download."""
    try:
        import spacy
    except ImportError as err:  # pragma: no cover - spacy is a hard dependency
        raise ResourceMissingError("spaCy is not installed: pip install spacy") from err
    try:
        return spacy.blank(lang)
    except Exception as err:  # spaCy raises ImportError/ValueError/KeyError subclasses for unknown langs
        raise ResourceMissingError(f"spaCy has no language {lang!r}: {err}") from None


@lru_cache(maxsize=None)
def spacy_pipeline(model: str) -> Any:
    """A trained spaCy pipeline such as 'en_core_web_sm', when installed as a package."""
    import spacy

    try:
        return spacy.load(model)
    except OSError:
        raise ResourceMissingError(
            f"spaCy pipeline {model!r} is not installed. `python -m spacy download {model}` needs the "
            f"internet (it does not work on machines that only reach package registries); install its "
            f"wheel with pip if you have it, or use the offline lookup lemmatizer (backend: spacy_lookup, "
            f"from spacy-lookups-data)."
        ) from None
