"""Imports every module that defines built-in stages, so that they register themselves."""

from textseq.text import morph, normalize, stopwords, subword, tokenize  # noqa: F401
