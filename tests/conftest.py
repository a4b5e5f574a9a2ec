"""Shared fixtures, including the odd-input suite that every stage must survive."""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import pytest

# Inputs that break naive text code. Every stage is run on each of them (tests/text/test_odd_inputs.py).
ODD_TEXTS: dict[str, str] = {
    "empty": "",
    "spaces": "   \t \n  ",
    "nul": "a\x00b\x00\x00c",
    "controls": "x\x01\x02\x1b[31mred\x1b[0m\x7f\x85\u2028y",
    "combining": "e\u0301 cafe\u0301 n\u0303o Z\u0351\u0352\u0353\u0354algo\u0300\u0301\u0302",
    "rtl": "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd and \u0645\u0631\u062d\u0628\u0627 \u202eevil\u202c",
    "emoji": "I \u2764\ufe0f it \U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f1ef\U0001f1f5 \U0001f44d\U0001f3fd!!",
    "mixed_scripts": "Tokyo \u6771\u4eac \u041c\u043e\u0441\u043a\u0432\u0430 \u0391\u03b8\u03ae\u03bd\u03b1 \u0926\u093f\u0932\u094d\u0932\u0940 \ud55c\uad6d\uc5b4",
    "ligatures_width": "\ufb01ne \uff21\uff22\uff23 \u2460 \u00bd x\u00b2 \u212b",
    "surrogate_like": "a\ufffdb\ufeffc\u200bd",
    "long_word": "a" * 20000,
    "punct_only": "?!...---,,,;;;'\"()[]{}",
    "urls": "see https://example.com/a?b=1&c=2 or mail me@example.org on 2024-01-31, it's $3.50!",
    "contractions": "I don't think they'll say it's y'all's fault, won't they? Can't!",
    "newlines": "line one\r\nline two\rline three\n\n\nline four",
    "turkish": "\u0130stanbul I\u0307 \u0131 DIYARBAKIR",
    "german": "Stra\u00dfe GROSS \u1e9e",
}


@pytest.fixture(params=sorted(ODD_TEXTS), ids=sorted(ODD_TEXTS))
def odd_text(request) -> str:
    return ODD_TEXTS[request.param]


@contextlib.contextmanager
def captured_logs(level: int = logging.INFO) -> Iterator[list[str]]:
    """The messages textseq logs inside the block (any test scope; caplog is per test only)."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger, handler = logging.getLogger("textseq"), Collect(level)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level, old_level or level))
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
