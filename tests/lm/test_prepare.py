"""prepare: codec from the training split only, encoded splits reused while the data config is unchanged."""

from __future__ import annotations

from textseq.lm.config import load_job_config
from textseq.lm.prepare import prepare

from .conftest import tiny_config


def test_prepare_reuses_the_encoding_until_the_data_config_changes(tmp_path):
    config = load_job_config(tiny_config(tmp_path))
    quiet = dict(progress=False)
    first = prepare(config.data, tmp_path / "run", **quiet)
    assert not first.reused and first.codec.size == len(set((tmp_path / "train.txt").read_text())) + 1  # + unk
    assert first.characters("valid") == len((tmp_path / "valid.txt").read_text())
    # lossless: line breaks are characters of the stream too, not unk
    assert first.codec.decode(first.splits["train"].tokens) == (tmp_path / "train.txt").read_text()
    again = prepare(config.data.model_copy(update={"batch_size": 2, "bptt": 8}), tmp_path / "run", **quiet)
    assert again.reused and again.codec.spec() == first.codec.spec()
    assert list(again.splits["train"].tokens) == list(first.splits["train"].tokens)
    changed = config.data.model_copy(update={"char": config.data.char.model_copy(update={"min_freq": 50})})
    third = prepare(changed, tmp_path / "run", **quiet)
    assert not third.reused and third.codec.size < first.codec.size
