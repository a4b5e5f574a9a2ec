"""Per-word memo tables for token stages: a token stage's answer for a word depends only on the
word, and real text repeats words, so each distinct word is computed once and every later lookup is
a dict subscript, which stays in C."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

# A memo never grows past this many words; it is simply emptied when full (real vocabularies rarely
# get there, and a cold memo only costs the recomputation).
MEMO_LIMIT = 1 << 20

V = TypeVar("V")


class Memo(dict, Generic[V]):
    """word -> result, computed by `fn` on first sight."""

    def __init__(self, fn: Callable[[str], V]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, word: str) -> V:
        if len(self) >= MEMO_LIMIT:
            self.clear()
        result = self[word] = self.fn(word)
        return result
