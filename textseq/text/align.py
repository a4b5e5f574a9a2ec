"""Alignment of normalized text to the original document, for token offsets in `original` mode.

A text stage reports what it changed as *edits*: `(a, b, n)` says input chars [a, b) became `n`
output chars; untouched text is not listed, so a stage that changes nothing (the usual case: ASCII
under NFKC, lower-casing, no control characters) reports `[]` and costs nothing here. The rule
every representation below follows: a replaced stretch [a, b) that becomes r gives every char of r
the span [start of char a, end of char b-1); a deletion emits nothing; copied chars keep their spans.

Two representations apply edits:

* `OffsetMap` (the pipeline's): sorted pieces of the normalized text, each either a run of
  original chars copied in order or a replacement whose chars all share one span. A document costs
  a few pieces per edit instead of two ints per char, and tokens map through it with one vectorised
  search over the piece starts.
* `spans_after` (`TextStage.aligned`'s): one (start, end) per char, for stages outside textseq that
  work on span lists directly.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Callable, NamedTuple, Sequence

import numpy as np

Edit = tuple[int, int, int]
Rewrite = tuple[str, list[Edit]]  # a stage's output text and the edits that made it


def sub_edits(pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str], text: str) -> tuple[str, list[Edit]]:
    """`pattern.sub(repl, text)` and its edits. A match replaced by itself is no edit, so it keeps
    the fine-grained spans of its chars."""
    edits: list[Edit] = []

    def record(m: re.Match[str]) -> str:
        r = repl(m)
        if r != m.group():
            edits.append((m.start(), m.end(), len(r)))
        return r

    out = pattern.sub(record, text)
    return (out, edits) if edits else (text, edits)


def identity_spans(text: str) -> tuple[list[int], list[int]]:
    """The spans of an unmodified document: char i came from [i, i+1)."""
    return list(range(len(text))), list(range(1, len(text) + 1))


def spans_after(edits: Sequence[Edit], starts: list[int], ends: list[int]) -> tuple[list[int], list[int]]:
    """Per-char spans after `edits`, given those before them. Inputs are not mutated."""
    if not edits:
        return starts, ends
    out_s: list[int] = []
    out_e: list[int] = []
    pos = 0  # start of the not-yet-copied stretch
    for a, b, n in edits:
        out_s += starts[pos:a]
        out_e += ends[pos:a]
        if n:
            s, e = _merged_span(starts, ends, a, b)
            out_s += [s] * n
            out_e += [e] * n
        pos = b
    out_s += starts[pos:]
    out_e += ends[pos:]
    return out_s, out_e


def _merged_span(starts: list[int], ends: list[int], a: int, b: int) -> tuple[int, int]:
    if a == b:  # an insertion: a zero-width span at the boundary
        point = starts[a] if a < len(starts) else (ends[a - 1] if a else 0)
        return point, point
    s, e = starts[a], ends[b - 1]
    if e < s:  # spans arrived out of order (a reordering stage ran earlier): cover them all
        s, e = min(starts[a:b]), max(ends[a:b])
    return s, e


class OffsetMap(NamedTuple):
    """Piece k covers normalized chars [at[k], at[k+1]). Char i of it came from the original span
    [start[k] + d, end[k] + d) with d = (i - at[k]) * linear[k]: a copied run has linear 1 and
    end = start + 1, a replacement has linear 0 and the span of all it replaced.

    Edits keep spans in order, so the map never needs the out-of-order repair of `_merged_span`."""

    at: list[int]
    start: list[int]
    end: list[int]
    linear: list[int]

    def start_of(self, i: int) -> int:
        """Where normalized char i starts in the original."""
        k = bisect_right(self.at, i) - 1
        return self.start[k] + (i - self.at[k]) * self.linear[k]

    def end_of(self, i: int) -> int:
        """Where normalized char i ends in the original."""
        k = bisect_right(self.at, i) - 1
        return self.end[k] + (i - self.at[k]) * self.linear[k]

    def then(self, edits: Sequence[Edit], n: int) -> "OffsetMap":
        """The map after `edits` to a text of `n` chars that this map describes."""
        if not edits:
            return self
        out = OffsetMap([], [], [], [])
        shift = 0  # output position minus input position, outside the edits
        pos = 0  # start of the not-yet-copied stretch
        for a, b, r in edits:
            self._copy(pos, a, shift, out)
            if r:
                s, e = self._span(a, b, n)
                out.at.append(a + shift)
                out.start.append(s)
                out.end.append(e)
                out.linear.append(0)
            shift += r - (b - a)
            pos = b
        self._copy(pos, n, shift, out)
        return out

    def _span(self, a: int, b: int, n: int) -> tuple[int, int]:
        """The span a replacement of [a, b) gets (see `_merged_span`)."""
        if a < b:
            return self.start_of(a), self.end_of(b - 1)
        point = self.start_of(a) if a < n else (self.end_of(a - 1) if a else 0)
        return point, point

    def _copy(self, lo: int, hi: int, shift: int, out: "OffsetMap") -> None:
        """Append the pieces covering input [lo, hi), moved by `shift`, to `out`."""
        if lo >= hi:
            return
        at = self.at
        k = bisect_right(at, lo) - 1
        d = (lo - at[k]) * self.linear[k]  # the first piece may start inside the stretch
        out.at.append(lo + shift)
        out.start.append(self.start[k] + d)
        out.end.append(self.end[k] + d)
        out.linear.append(self.linear[k])
        k += 1
        while k < len(at) and at[k] < hi:
            out.at.append(at[k] + shift)
            out.start.append(self.start[k])
            out.end.append(self.end[k])
            out.linear.append(self.linear[k])
            k += 1

    def spans(self, starts: np.ndarray, ends: np.ndarray) -> tuple[list[int], list[int]]:
        """Original spans of normalized spans [starts, ends), as lists; needs 0 <= start < end <= n."""
        at = np.array(self.at)
        linear = np.array(self.linear)
        k = at.searchsorted(starts, "right") - 1
        out_s = np.array(self.start)[k] + (starts - at[k]) * linear[k]
        last = ends - 1
        k = at.searchsorted(last, "right") - 1
        out_e = np.array(self.end)[k] + (last - at[k]) * linear[k]
        return out_s.tolist(), out_e.tolist()


IDENTITY = OffsetMap([0], [0], [1], [1])
"""The map of an unmodified document; `then` returns it unchanged when there are no edits."""
