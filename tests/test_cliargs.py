"""Command-line number types: every bad value is a usage error that says what was wrong."""

from __future__ import annotations

import argparse

import pytest

from textseq.cliargs import device_name, non_negative_int, positive_float, positive_int, probability


@pytest.mark.parametrize("parse, text, value", [(positive_int, "3", 3), (non_negative_int, "0", 0), (positive_float, "0.5", 0.5),
                                                (probability, "1", 1.0), (device_name, "cuda", "cuda")])
def test_good_values_parse(parse, text, value):
    assert parse(text) == value and type(parse(text)) is type(value)


@pytest.mark.parametrize("parse, text, message", [
    (positive_int, "0", "must be at least 1, got 0"), (positive_int, "1.5", "expected a whole number"),
    (non_negative_int, "-1", "must be at least 0"), (positive_float, "0", "must be above 0"),
    (positive_float, "inf", "expected a finite number"), (positive_float, "nan", "expected a finite number"),
    (probability, "1.01", "must be at most 1"), (probability, "0", "must be above 0"), (positive_float, "x", "expected a number"),
    (device_name, "gpu", "expected auto, cpu, cuda or mps")])
def test_bad_values_are_usage_errors_saying_why(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)
