"""Every config shipped under configs/ validates against its schema."""

from __future__ import annotations

import glob

import pytest

from textseq.text.pipeline import Pipeline


@pytest.mark.parametrize("path", sorted(glob.glob("configs/preprocess/*.yaml")))
def test_preprocess_configs_validate_and_round_trip(path):
    pipeline = Pipeline.load(path)
    assert Pipeline.from_spec(pipeline.spec()) == pipeline
    assert pipeline("Some text.") is not None


def test_every_config_is_covered():
    known = ("configs/preprocess/",)
    stray = [p for p in glob.glob("configs/**/*.yaml", recursive=True) if not p.startswith(known)]
    assert not stray, f"configs without a validation test: {stray}"
