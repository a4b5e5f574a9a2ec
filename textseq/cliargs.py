"""Argument types for the command line: a bad number is a usage error naming the option, never a
traceback. Torch-free, so building the parser stays fast."""

from __future__ import annotations

import argparse
import math
from typing import Callable

Parse = Callable[[str], float]


def number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False) -> Parse:
    """An argparse type: `kind` (int or float) from the text, finite, in [low, high] ((low, high] with
    `low_open`); the error says which bound failed."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"must be {'above' if low_open else 'at least'} {low:g}, got {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text}")
        return value

    parse.__name__ = kind.__name__  # what argparse calls the type in its own messages
    return parse


positive_int = number(int, low=1)
non_negative_int = number(int, low=0)
positive_float = number(float, low=0, low_open=True)
non_negative_float = number(float, low=0)
probability = number(float, low=0, high=1, low_open=True)


def device_name(text: str) -> str:
    """argparse type: auto, cpu, cuda or mps."""
    if text not in ("auto", "cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or mps, got {text!r}")
    return text
